"""The job service: JobService and AdminService over gRPC, on the Redis store."""

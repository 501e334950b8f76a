"""What every role shares: settings (the one reader of the environment), service errors, logs,
metrics and the credit rule."""

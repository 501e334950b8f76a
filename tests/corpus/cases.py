"""The bad-input corpus, as data: what is sent, and what must come back.

Three kinds of case:
- `HttpCase`: one HTTP request to the proxy and the 4xx it must answer (status, machine `code`,
  `field`, a piece of the message). `raw` cases are sent as bytes on a socket, for what an HTTP
  client library refuses to send.
- `GrpcCase`: one call to the job service's gRPC API and the status it must end with.
- `MediaCase`: a job whose inputs are files made by `media.py`, uploaded through
  `POST /api/v1/files`, then rendered by a real worker: the job must fail with an error that
  contains `error` (or complete, when `error` is None).

Every input URL that is not an upload points at a loopback or private IP literal: the worker
refuses those before connecting, so the corpus never sends a packet off this machine (not even
a DNS query).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc

# A job's inputs that are well formed but never fetched (loopback: refused by the worker).
IMAGE = "https://127.0.0.1/face.png"
AUDIO = "https://127.0.0.1/speech.wav"
FORMS: dict[str, dict[str, Any]] = {
    "lipsync-image": {"image": IMAGE, "audio": AUDIO},
    "lipsync-video": {"video": "https://127.0.0.1/talk.mp4", "audio": AUDIO},
    "lipsync-image-multi": {"image": IMAGE, "left_audio": AUDIO, "right_audio": AUDIO},
}
SUBMIT = "/api/v1/lipsync-image"


@dataclass(frozen=True)
class HttpCase:
    name: str
    path: str = SUBMIT  # `{job}`: a job of the caller's; `{ended}`: one that has failed;
    # `{stranger}`: another account's job
    method: str = "POST"
    json: Any = None  # sent as JSON when `body` is None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: bool = True  # send the case's own valid key
    raw: bytes | None = None  # the whole request, sent as is on a socket
    status: int = 400
    code: str | None = "invalid_argument"
    field: str | None = None
    message: str = ""  # a part of the error message
    # Accepted (200) cases: a part of the error the job must then fail with. Their inputs point
    # at loopback, which the worker refuses.
    job_error: str = "points to a loopback address"
    bug: str = ""  # a known bug this case shows: it is expected to fail until that is fixed


def submit(name: str, form: dict[str, Any] | None = None, model: str = "lipsync-image", *,
           drop: tuple[str, ...] = (), status: int = 400, field: str | None = None, message: str = "",
           code: str | None = "invalid_argument", **envelope: Any) -> HttpCase:
    """A submit whose formState is the model's good form with `form` over it, less `drop`."""
    state = {k: v for k, v in {**FORMS[model], **(form or {})}.items() if k not in drop}
    return HttpCase(name, path=f"/api/v1/{model}", json={"formState": state, **envelope},
                    status=status, code=code if status != 200 else None, field=field, message=message)


def fs(name: str) -> str:
    return f"formState.{name}"


LONG_URL = "https://127.0.0.1/" + "a" * 3000
# Right-to-left override, Arabic, a zero-width space, a BOM, an emoji, a combining accent.
ODD_TEXT = ("\u202eRTL override\u202c \u0627\u0644\u0633\u0644\u0627\u0645 zero\u200bwidth "
            "\ufeff \U0001f600 e\u0301")

HTTP_CASES: list[HttpCase] = [
    # -- the body is not the JSON asked for -------------------------------------------------
    HttpCase("malformed_json", body=b"{nope", message="Request body is not valid JSON"),
    HttpCase("truncated_json", body=b'{"formState": {"image": "https://127.0.0.1/a.png"',
             message="not valid JSON"),
    HttpCase("trailing_garbage", body=b'{"formState": {}} xyz', message="not valid JSON"),
    HttpCase("json_array", body=b"[1, 2]", message="must be a JSON object"),
    HttpCase("json_string", body=b'"formState"', message="must be a JSON object"),
    HttpCase("json_null", body=b"null", message="must be a JSON object"),
    HttpCase("nan_literal", body=b'{"formState": {"image": "https://127.0.0.1/a", '
             b'"audio": "https://127.0.0.1/b", "seed": NaN}}', message="not valid JSON"),
    HttpCase("invalid_utf8", body=b'{"formState": {"prompt": "\xff\xfe\xfd"}}', message="not valid JSON"),
    HttpCase("deep_nesting", body=b"[" * 100_000, message="not valid JSON"),
    HttpCase("form_urlencoded", body=b"formState=1&image=x",
             headers={"Content-Type": "application/x-www-form-urlencoded"}, message="not valid JSON"),
    HttpCase("empty_body", body=b"", field="formState", message="formState is required"),
    # -- the envelope ---------------------------------------------------------------------------
    HttpCase("no_form_state", json={}, field="formState"),
    HttpCase("form_state_null", json={"formState": None}, field="formState"),
    HttpCase("form_state_string", json={"formState": "image"}, field="formState",
             message="must be an object"),
    HttpCase("form_state_list", json={"formState": [FORMS["lipsync-image"]]}, field="formState"),
    HttpCase("unknown_top_field", json={"formState": FORMS["lipsync-image"], "hook": "x"}, field="hook",
             message="Unknown field hook"),
    HttpCase("form_state_snake_case", json={"form_state": FORMS["lipsync-image"]}, field="form_state"),
    # -- missing, unknown and mistyped fields ------------------------------------------------------
    submit("missing_image", drop=("image",), field=fs("image"), message="formState.image is required"),
    submit("missing_audio", drop=("audio",), field=fs("audio")),
    submit("missing_video", model="lipsync-video", drop=("video",), field=fs("video")),
    submit("missing_left_audio", model="lipsync-image-multi", drop=("left_audio",), field=fs("left_audio")),
    submit("missing_right_audio", model="lipsync-image-multi", drop=("right_audio",),
           field=fs("right_audio")),
    submit("empty_image", {"image": ""}, field=fs("image"), message="is required"),
    submit("unknown_form_field", {"voice": "alto"}, field=fs("voice"), message="Unknown field"),
    submit("order_on_image", {"order": "left_right"}, field=fs("order")),
    submit("mask_on_multi", {"mask_image": IMAGE}, model="lipsync-image-multi", field=fs("mask_image")),
    submit("image_number", {"image": 7}, field=fs("image"), message="must be a string"),
    submit("image_object", {"image": {"url": IMAGE}}, field=fs("image"), message="must be a string"),
    submit("image_list", {"image": [IMAGE]}, field=fs("image"), message="must be a string"),
    submit("audio_bool", {"audio": True}, field=fs("audio"), message="must be a string"),
    submit("prompt_number", {"prompt": 12}, field=fs("prompt"), message="must be a string"),
    # -- seeds ----------------------------------------------------------------------------------
    submit("seed_string", {"seed": "42"}, field=fs("seed"), message="must be an integer"),
    submit("seed_float", {"seed": 1.5}, field=fs("seed"), message="must be an integer"),
    submit("seed_bool", {"seed": True}, field=fs("seed"), message="must be an integer"),
    submit("seed_minus_two", {"seed": -2}, field=fs("seed"), message="-1 (random) or between"),
    submit("seed_huge_negative", {"seed": -(2**62)}, field=fs("seed")),
    submit("seed_int32_overflow", {"seed": 2**31}, field=fs("seed")),
    submit("seed_int64_overflow", {"seed": 2**63}, field=fs("seed"), message="must be between"),
    submit("seed_bignum", {"seed": 10**40}, field=fs("seed")),
    HttpCase("seed_infinity", body=b'{"formState": {"image": "https://127.0.0.1/a", '
             b'"audio": "https://127.0.0.1/b", "seed": 1e400}}', field=fs("seed")),
    submit("seed_minus_one_is_random", {"seed": -1}, status=200),
    submit("seed_max", {"seed": 2**31 - 1}, status=200),
    # -- resolution and order -------------------------------------------------------------------
    submit("resolution_1080p", {"resolution": "1080p"}, field=fs("resolution"), message='"480p" or "720p"'),
    submit("resolution_upper_case", {"resolution": "480P"}, field=fs("resolution")),
    submit("resolution_number", {"resolution": 720}, field=fs("resolution"), message="must be a string"),
    submit("resolution_empty_is_default", {"resolution": ""}, status=200),
    submit("order_sideways", {"order": "sideways"}, model="lipsync-image-multi", field=fs("order"),
           message="meanwhile, left_right, right_left"),
    submit("order_with_space", {"order": "left_right "}, model="lipsync-image-multi", field=fs("order")),
    # -- URLs -----------------------------------------------------------------------------------
    submit("ftp_url", {"video": "ftp://127.0.0.1/x.mp4"}, model="lipsync-video", field=fs("video"),
           message="http(s) URL"),
    submit("file_url", {"image": "file:///etc/passwd"}, field=fs("image")),
    submit("javascript_url", {"image": "javascript:alert(1)"}, field=fs("image")),
    submit("data_url", {"image": "data:image/png;base64,iVBORw0KGgo="}, field=fs("image")),
    submit("gopher_url", {"audio": "gopher://127.0.0.1:6379/_FLUSHALL"}, field=fs("audio")),
    submit("url_without_host", {"image": "https:///face.png"}, field=fs("image")),
    submit("relative_url", {"image": "/face.png"}, field=fs("image")),
    submit("url_too_long", {"image": LONG_URL}, field=fs("image"), message="longer than 2048"),
    submit("mask_ftp", {"mask_image": "ftp://127.0.0.1/m.png"}, field=fs("mask_image")),
    # -- strings: huge, odd unicode ------------------------------------------------------------
    submit("prompt_too_long", {"prompt": "x" * 2001}, field=fs("prompt"), message="longer than 2000"),
    submit("prompt_odd_unicode", {"prompt": ODD_TEXT}, status=200),
    submit("prompt_nul", {"prompt": "before\u0000after"}, status=200),
    # Refused, naming the field only inside the message (protobuf's parser finds it).
    HttpCase("prompt_lone_surrogate", body=b'{"formState": {"image": "https://127.0.0.1/a", '
             b'"audio": "https://127.0.0.1/b", "prompt": "\\ud800"}}',
             message="Unpaired surrogate at SubmitLipsyncImageRequest.formState.prompt"),
    HttpCase("url_lone_surrogate", body=b'{"formState": {"image": "https://127.0.0.1/\\udfff.png", '
             b'"audio": "https://127.0.0.1/b"}}', message="formState.image"),
    # Accepted at submit; the worker refuses the URL before any connection.
    HttpCase("url_with_nul", json={"formState": {**FORMS["lipsync-image"], "image": "https://127.0.0.1/a\u0000.png"}},
             status=200, code=None, job_error="The image URL is not a valid URL"),
    HttpCase("url_with_newline", json={"formState": {**FORMS["lipsync-image"],
                                                     "image": "https://127.0.0.1/a\r\nX-Evil: 1"}},
             status=200, code=None, job_error="The image URL is not a valid URL"),
    submit("url_with_rtl_override", {"image": "https://127.0.0.1/\u202egnp.exe"}, status=200),
    # -- webhooks (the server runs with https-only, public-only webhooks) ------------------------
    submit("webhook_http", webhook="http://example.com/hook", field="webhook", message="https://"),
    submit("webhook_ftp", webhook="ftp://example.com/hook", field="webhook"),
    submit("webhook_loopback", webhook="https://127.0.0.1/hook", field="webhook", message="public address"),
    submit("webhook_private_10", webhook="https://10.0.0.1/hook", field="webhook", message="public address"),
    submit("webhook_private_192", webhook="https://192.168.1.1:3000/hook", field="webhook"),
    submit("webhook_metadata", webhook="https://169.254.169.254/latest/meta-data/", field="webhook"),
    submit("webhook_localhost_name", webhook="https://localhost/hook", field="webhook"),
    submit("webhook_ipv6_loopback", webhook="https://[::1]/hook", field="webhook"),
    submit("webhook_ipv4_mapped", webhook="https://[::ffff:127.0.0.1]/hook", field="webhook"),
    submit("webhook_decimal_ip", webhook="https://2130706433/hook", field="webhook"),
    submit("webhook_octal_ip", webhook="https://0177.0.0.1/hook", field="webhook"),
    submit("webhook_bad_port", webhook="https://example.com:99999/hook", field="webhook"),
    submit("webhook_with_space", webhook="https://example.com/a hook", field="webhook"),
    submit("webhook_number", webhook=443, field="webhook", message="must be a string"),
    submit("webhook_too_long", webhook="https://example.com/" + "h" * 3000, field="webhook"),
    # -- sizes ------------------------------------------------------------------------------------
    submit("body_over_1mib", {"prompt": "x" * (1 << 20)}, status=413, code="payload_too_large",
           message="larger than the limit of 1 MiB"),
    HttpCase("declared_length_over_limit", raw=b"POST /api/v1/lipsync-image HTTP/1.1\r\nHost: x\r\n"
             b"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
             b"Content-Length: 5000000000\r\n\r\n{}", status=413, code="payload_too_large"),
    # -- authentication ---------------------------------------------------------------------------
    HttpCase("no_key", json={"formState": FORMS["lipsync-image"]}, auth=False, status=401,
             code="unauthenticated"),
    HttpCase("basic_auth", json={"formState": FORMS["lipsync-image"]}, auth=False,
             headers={"Authorization": "Basic dXNlcjpwYXNz"}, status=401, code="unauthenticated"),
    HttpCase("bearer_not_ascii", raw=b"GET /api/v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_"
             + "\u00e9\u202e".encode() * 5 + b"\r\n\r\n", status=401, code="unauthenticated"),
    HttpCase("bearer_300_chars", json={"formState": FORMS["lipsync-image"]}, auth=False,
             headers={"Authorization": "Bearer sk_" + "x" * 300}, status=401, code="unauthenticated"),
    HttpCase("bearer_30_kb", json={"formState": FORMS["lipsync-image"]}, auth=False,
             headers={"Authorization": "Bearer sk_" + "x" * 30_000}, status=401, code="unauthenticated"),
    HttpCase("request_id_huge", json={"formState": FORMS["lipsync-image"]},
             headers={"X-Request-Id": "r" * 8000}, status=200, code=None),
    # -- routes and methods -----------------------------------------------------------------------
    HttpCase("get_on_submit", method="GET", status=405, code="method_not_allowed"),
    HttpCase("put_on_job", path="/api/v1/jobs/{job}", method="PUT", json={}, status=405,
             code="method_not_allowed"),
    HttpCase("unknown_model", path="/api/v1/lipsync-audio", json={"formState": {}}, status=404,
             code="not_found"),
    # -- the job endpoints ------------------------------------------------------------------------
    HttpCase("job_unknown_uuid", path="/api/v1/jobs/550e8400-e29b-41d4-a716-446655440000", method="GET",
             status=404, code="not_found"),
    HttpCase("job_not_a_uuid", path="/api/v1/jobs/not-a-uuid", method="GET", status=404, code="not_found"),
    HttpCase("job_id_huge", path="/api/v1/jobs/" + "9" * 4000, method="GET", status=404, code="not_found"),
    HttpCase("job_id_nul", path="/api/v1/jobs/%00", method="GET", status=404, code="not_found"),
    HttpCase("job_id_traversal", path="/api/v1/jobs/..%2F..%2Fsigning.key", method="GET", status=404,
             code="not_found"),
    HttpCase("job_id_redis_glob", path="/api/v1/jobs/*", method="GET", status=404, code="not_found"),
    HttpCase("job_id_rtl", path="/api/v1/jobs/%E2%80%AEdi-boj", method="GET", status=404, code="not_found"),
    HttpCase("job_id_bad_percent", path="/api/v1/jobs/%ZZ%", method="GET", status=404, code="not_found"),
    HttpCase("job_of_another_account", path="/api/v1/jobs/{stranger}", method="GET", status=404,
             code="not_found"),
    HttpCase("job_without_key", path="/api/v1/jobs/{job}", method="GET", auth=False, status=401,
             code="unauthenticated"),
    HttpCase("job_unknown_query", path="/api/v1/jobs/{job}?verbose=1", method="GET", field="verbose",
             message="Unknown query parameter"),
    HttpCase("job_id_in_query_too", path="/api/v1/jobs/{job}?id=other", method="GET", field="id"),
    HttpCase("cancel_unknown", path="/api/v1/jobs/550e8400-e29b-41d4-a716-446655440000/cancel",
             status=404, code="not_found"),
    HttpCase("cancel_another_accounts", path="/api/v1/jobs/{stranger}/cancel", status=404, code="not_found"),
    HttpCase("cancel_ended_job", path="/api/v1/jobs/{ended}/cancel", code="conflict",
             message="The job has already failed"),
    HttpCase("list_limit_zero_is_default", path="/api/v1/jobs?limit=0", method="GET", status=200,
             code=None),
    HttpCase("list_limit_too_big", path="/api/v1/jobs?limit=1000", method="GET", field="limit"),
    HttpCase("list_limit_negative", path="/api/v1/jobs?limit=-5", method="GET", field="limit"),
    HttpCase("list_limit_text", path="/api/v1/jobs?limit=ten", method="GET", field="limit",
             message="must be an integer"),
    HttpCase("list_limit_int32_overflow", path="/api/v1/jobs?limit=99999999999", method="GET",
             field="limit"),
    HttpCase("list_limit_twice", path="/api/v1/jobs?limit=1&limit=2", method="GET", field="limit"),
    HttpCase("list_before_unknown_job", path="/api/v1/jobs?before=%00%FF", method="GET", status=404,
             code="not_found"),
    # -- uploads and stored files -------------------------------------------------------------------
    HttpCase("upload_empty", path="/api/v1/files", body=b"", message="empty"),
    HttpCase("upload_without_key", path="/api/v1/files", body=b"\x89PNG\r\n\x1a\n", auth=False,
             status=401, code="unauthenticated"),
    HttpCase("upload_declared_too_big", raw=b"POST /api/v1/files HTTP/1.1\r\nHost: x\r\n"
             b"Authorization: Bearer {key}\r\nContent-Length: 999999999999\r\n\r\nabc", status=413,
             code="payload_too_large"),
    HttpCase("file_unsigned", path="/files/uploads/0123456789abcdef0123456789abcdef.png", method="GET",
             auth=False, status=404, code="not_found"),
    HttpCase("file_forged_signature", path="/files/outputs/x.mp4?expires=99999999999&sig=" + "0" * 64,
             method="GET", auth=False, status=404, code="not_found"),
    HttpCase("file_traversal", path="/files/..%2Fsigning.key?expires=99999999999&sig=00", method="GET",
             auth=False, status=404, code="not_found"),
    HttpCase("file_expires_not_a_number", path="/files/outputs/x.mp4?expires=-1e9&sig=abc", method="GET",
             auth=False, status=404, code="not_found"),
]


@dataclass(frozen=True)
class GrpcCase:
    name: str
    method: str  # "/lipsync.v1.JobService/SubmitLipsyncImage"
    request: dict[str, Any]  # the request as proto JSON (public names)
    code: grpc.StatusCode
    message: str = ""
    auth: str = "key"  # "key": the case's key; "none": no metadata; anything else: sent as is
    raw: bytes | None = None  # serialized request bytes sent instead of `request`


JOBS = "/lipsync.v1.JobService/"
GOOD = {"formState": FORMS["lipsync-image"]}
INVALID = grpc.StatusCode.INVALID_ARGUMENT

GRPC_CASES: list[GrpcCase] = [
    GrpcCase("submit_without_metadata", JOBS + "SubmitLipsyncImage", GOOD, grpc.StatusCode.UNAUTHENTICATED,
             "Missing API key", auth="none"),
    GrpcCase("submit_basic_auth", JOBS + "SubmitLipsyncImage", GOOD, grpc.StatusCode.UNAUTHENTICATED,
             "Bearer", auth="Basic abc"),
    GrpcCase("submit_unknown_key", JOBS + "SubmitLipsyncImage", GOOD, grpc.StatusCode.UNAUTHENTICATED,
             auth="Bearer sk_000000000000_" + "x" * 43),
    GrpcCase("submit_without_form", JOBS + "SubmitLipsyncImage", {}, INVALID, "formState is required"),
    GrpcCase("submit_ftp_image", JOBS + "SubmitLipsyncImage",
             {"formState": {**FORMS["lipsync-image"], "image": "ftp://127.0.0.1/a.png"}}, INVALID,
             "formState.image must be an http(s) URL"),
    GrpcCase("submit_seed_int64", JOBS + "SubmitLipsyncImage",
             {"formState": {**FORMS["lipsync-image"], "seed": str(2**40)}}, INVALID, "formState.seed"),
    GrpcCase("submit_seed_negative", JOBS + "SubmitLipsyncVideo",
             {"formState": {**FORMS["lipsync-video"], "seed": "-7"}}, INVALID, "formState.seed"),
    GrpcCase("submit_bad_resolution", JOBS + "SubmitLipsyncVideo",
             {"formState": {**FORMS["lipsync-video"], "resolution": "4k"}}, INVALID, "resolution"),
    GrpcCase("submit_bad_order", JOBS + "SubmitLipsyncImageMulti",
             {"formState": {**FORMS["lipsync-image-multi"], "order": "both"}}, INVALID, "order"),
    GrpcCase("submit_private_webhook", JOBS + "SubmitLipsyncImage",
             {**GOOD, "webhook": "https://[fd00:ec2::254]/hook"}, INVALID, "public address"),
    GrpcCase("submit_http_webhook", JOBS + "SubmitLipsyncImage",
             {**GOOD, "webhook": "http://example.com/hook"}, INVALID, "https://"),
    GrpcCase("submit_huge_prompt", JOBS + "SubmitLipsyncImage",
             {"formState": {**FORMS["lipsync-image"], "prompt": "p" * 3_000_000}}, INVALID,
             "longer than 2000"),
    GrpcCase("submit_over_message_limit", JOBS + "SubmitLipsyncImage",
             {"formState": {**FORMS["lipsync-image"], "prompt": "p" * (5 << 20)}},
             grpc.StatusCode.RESOURCE_EXHAUSTED),
    GrpcCase("submit_url_without_host", JOBS + "SubmitLipsyncImage",
             {"formState": {**FORMS["lipsync-image"], "audio": "https://:443/a.wav"}}, INVALID,
             "formState.audio must be an http(s) URL"),
    GrpcCase("get_unknown_job", JOBS + "GetJob", {"id": "550e8400-e29b-41d4-a716-446655440000"},
             grpc.StatusCode.NOT_FOUND, "No job"),
    GrpcCase("get_empty_id", JOBS + "GetJob", {}, grpc.StatusCode.NOT_FOUND),
    GrpcCase("get_huge_id", JOBS + "GetJob", {"id": "j" * 100_000}, grpc.StatusCode.NOT_FOUND),
    GrpcCase("get_without_metadata", JOBS + "GetJob", {"id": "x"}, grpc.StatusCode.UNAUTHENTICATED,
             auth="none"),
    GrpcCase("cancel_unknown_job", JOBS + "CancelJob", {"id": "nope"}, grpc.StatusCode.NOT_FOUND),
    GrpcCase("list_limit_too_big", JOBS + "ListJobs", {"limit": 101}, INVALID, "limit"),
    GrpcCase("list_limit_negative", JOBS + "ListJobs", {"limit": -1}, INVALID, "limit"),
    GrpcCase("watch_unknown_job", JOBS + "WatchJob", {"id": "nope"}, grpc.StatusCode.NOT_FOUND),
    GrpcCase("account_bad_scheme", JOBS + "GetAccount", {}, grpc.StatusCode.UNAUTHENTICATED,
             auth="Token abc"),
    GrpcCase("admin_with_user_key", "/lipsync.v1.AdminService/AddCredits", {"accountId": "a", "credits": 5},
             grpc.StatusCode.PERMISSION_DENIED, "LIPSYNC_ADMIN_TOKEN"),
    GrpcCase("unknown_method", JOBS + "DeleteEverything", {}, grpc.StatusCode.UNIMPLEMENTED),
]


@dataclass(frozen=True)
class MediaCase:
    name: str
    inputs: dict[str, str]  # form field -> a maker of `media.py` ("face_png") or a URL ("https://...")
    error: str | None  # a part of the failed job's error; None: the job completes
    model: str = "lipsync-image"
    form: dict[str, Any] = field(default_factory=dict)


FACE = {"image": "face_png", "audio": "speech_wav"}

MEDIA_CASES: list[MediaCase] = [
    # -- images -------------------------------------------------------------------------------------
    MediaCase("truncated_png", {**FACE, "image": "truncated_png"},
              "Invalid image file: the picture data is corrupt"),
    MediaCase("png_signature_only", {**FACE, "image": "png_signature_only"}, "Invalid image file"),
    MediaCase("jpeg_header_only", {**FACE, "image": "jpeg_header_only"}, "Invalid image file"),
    MediaCase("png_declaring_30000x30000", {**FACE, "image": "huge_png"},
              "The image is 30000x30000; the limit"),
    MediaCase("png_9000_wide", {**FACE, "image": "wide_png"}, "The image is 9000x4"),
    MediaCase("zip_as_image", {**FACE, "image": "zip_file"},
              "The image URL does not point to an image (it looks like a ZIP archive)"),
    MediaCase("html_error_page_as_image", {**FACE, "image": "html_error_page"},
              "(it looks like an HTML page)"),
    MediaCase("random_bytes_as_image", {**FACE, "image": "random_bytes"},
              "The image URL does not point to an image"),
    MediaCase("wav_as_image", {**FACE, "image": "speech_wav"}, "(it looks like a WAV audio file)"),
    MediaCase("no_face", {**FACE, "image": "wall_png"}, "No face found in the image"),
    # -- audio --------------------------------------------------------------------------------------
    MediaCase("mp3_garbage", {**FACE, "audio": "mp3_garbage"}, "Invalid audio"),
    MediaCase("wav_lying_length_decodes_what_is_there", {**FACE, "audio": "wav_lying_header"}, None),
    MediaCase("wav_lying_sample_rate", {**FACE, "audio": "wav_lying_rate"},
              "sample rate 1000000 Hz is not supported"),
    MediaCase("wav_zero_channels", {**FACE, "audio": "wav_zero_channels"}, "Invalid audio"),
    MediaCase("wav_zero_sample_rate", {**FACE, "audio": "wav_zero_rate"}, "Invalid audio"),
    MediaCase("zero_length_audio", {**FACE, "audio": "wav_header_only"}, "the audio is empty (zero length)"),
    MediaCase("silent_audio", {**FACE, "audio": "silent_wav"}, "The audio is silent"),
    MediaCase("audio_601_s", {**FACE, "audio": "long_wav"}, "Audio is longer than the 600 s limit (601 s)"),
    MediaCase("flac_700_s", {**FACE, "audio": "long_flac"}, "Audio is longer than the 600 s limit (700 s)"),
    MediaCase("png_named_mp3", {**FACE, "audio": "png_named_mp3"},
              "The audio URL does not point to an audio file (it looks like a PNG image)"),
    MediaCase("html_as_audio", {**FACE, "audio": "html_error_page"}, "(it looks like an HTML page)"),
    MediaCase("video_without_sound_as_audio", {**FACE, "audio": "face_mp4"}, "holds no audio track"),
    MediaCase("mask_is_html", {**FACE, "mask_image": "html_error_page"},
              "The mask_image URL does not point to an image"),
    MediaCase("mask_is_huge", {**FACE, "mask_image": "huge_png"}, "30000x30000"),
    # -- video --------------------------------------------------------------------------------------
    MediaCase("mp4_without_moov", {"video": "mp4_without_moov", "audio": "speech_wav"},
              "Invalid video file", model="lipsync-video"),
    MediaCase("mp4_first_2_kb", {"video": "truncated_mp4", "audio": "speech_wav"}, "Invalid video file",
              model="lipsync-video"),
    MediaCase("video_9000_wide", {"video": "wide_video", "audio": "speech_wav"}, "The video is 9000x16",
              model="lipsync-video"),
    MediaCase("mp4_with_no_picture", {"video": "audio_only_mp4", "audio": "speech_wav"},
              "holds no video track", model="lipsync-video"),
    MediaCase("png_as_video", {"video": "face_png", "audio": "speech_wav"},
              "The video URL does not point to a video (it looks like a PNG image)", model="lipsync-video"),
    MediaCase("video_of_2000_s_at_a_frame_per_1000_s", {"video": "slow_video", "audio": "speech_wav"}, None,
              model="lipsync-video"),
    # -- two people -----------------------------------------------------------------------------------
    MediaCase("multi_with_one_face", {"image": "face_png", "left_audio": "speech_wav",
                                      "right_audio": "speech_wav"}, "two", model="lipsync-image-multi"),
    MediaCase("multi_right_audio_700_s", {"image": "face_png", "left_audio": "speech_wav",
                                          "right_audio": "long_flac"}, "(700 s)",
              model="lipsync-image-multi"),
    MediaCase("multi_left_audio_is_zip", {"image": "face_png", "left_audio": "zip_file",
                                          "right_audio": "speech_wav"},
              "The left_audio URL does not point to an audio file (it looks like a ZIP archive)",
              model="lipsync-image-multi"),
    # -- URLs the worker refuses before connecting ----------------------------------------------------
    MediaCase("input_loopback", {**FACE, "image": "http://127.0.0.1:9/face.png"},
              "The image URL points to a loopback address (127.0.0.1); only public addresses"),
    MediaCase("input_metadata", {**FACE, "audio": "http://169.254.169.254/latest/meta-data/"},
              "a cloud metadata address"),
    MediaCase("input_private_10", {**FACE, "image": "https://10.1.2.3/face.png"},
              "a private network address"),
    MediaCase("input_ipv6_loopback", {**FACE, "image": "http://[::1]:80/face.png"}, "a loopback address"),
    MediaCase("input_ipv4_mapped", {**FACE, "image": "http://[::ffff:10.0.0.1]/face.png"},
              "a private network address"),
    MediaCase("input_hex_ip", {**FACE, "image": "http://0x7f.1/face.png"}, "a loopback address"),
    MediaCase("input_unspecified", {**FACE, "audio": "http://0.0.0.0/a.wav"}, "an unspecified address"),
    MediaCase("input_forged_upload_link", {**FACE, "image": "{forged}"}, "a loopback address"),
]

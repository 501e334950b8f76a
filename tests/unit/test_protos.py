"""The protos are the single source of truth: generated code is current, JSON names match."""

from __future__ import annotations

import subprocess
import sys

from protos.lipsync.v1 import jobs_pb2
from proxy.jsonmap import message_to_json_dict


def test_generated_code_is_current() -> None:
    done = subprocess.run([sys.executable, "-m", "protos.gen", "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_public_json_names() -> None:
    names = {f.json_name for m in (jobs_pb2.LipsyncVideoForm, jobs_pb2.LipsyncImageForm,
                                   jobs_pb2.LipsyncImageMultiForm)
             for f in m.DESCRIPTOR.fields}
    assert {"mask_image", "left_audio", "right_audio", "seed", "resolution", "order"} <= names
    request = jobs_pb2.SubmitLipsyncImageRequest.DESCRIPTOR.fields_by_name["form_state"]
    assert request.json_name == "formState"


def test_job_object_has_the_seven_fields_with_nulls() -> None:
    job = message_to_json_dict(jobs_pb2.Job(id="x", model="lipsync-image", status="processing"))
    assert {k: job[k] for k in ("id", "model", "status", "output", "error", "executionTime",
                                "timings")} == {
        "id": "x", "model": "lipsync-image", "status": "processing", "output": None, "error": "",
        "executionTime": None, "timings": None}
    done = message_to_json_dict(jobs_pb2.Job(id="x", status="completed", execution_time=12345))
    assert done["executionTime"] == 12345  # a JSON number, not proto3's int64 string

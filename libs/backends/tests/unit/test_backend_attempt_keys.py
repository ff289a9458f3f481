"""One backend job per job and attempt: the name every backend gives an attempt's job."""

from esap_backends import attempt_key, job_id_of_key
from esap_backends.grid import job_name
from esap_backends.local.layout import is_job_id
from esap_messages import SubmitJob, WorkflowRun, new_id


def test_the_first_attempt_keeps_the_job_id_and_later_ones_add_their_number() -> None:
    job_id = new_id()
    assert attempt_key(job_id, 1) == str(job_id)
    assert attempt_key(job_id, 2) == f"{job_id}_2"
    assert job_id_of_key(attempt_key(job_id, 3)) == job_id_of_key(str(job_id)) == job_id
    assert is_job_id(attempt_key(job_id, 2))  # a local directory name


def test_dirac_s_job_name_carries_the_attempt_after_the_first() -> None:
    job = SubmitJob(job_id=new_id(), facility="ctadirac", backend="diracx",
                    workflow=WorkflowRun(slug="w", command=("true",)), parameters={}, execution_duration=0,
                    callback_token="t" * 20)
    assert job_name(job) == f"esap-{job.job_id}"
    assert job_name(job.model_copy(update={"attempt": 2})) == f"esap-{job.job_id}_2"

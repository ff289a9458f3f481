"""The local executor's job directories on a temporary work root: whole-or-nothing creation, atomic state."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from esap_backends import BackendError, PermanentBackendError
from esap_backends.local.launch import plan_launch
from esap_backends.local.layout import STATE_FILE, KillIntent, read_job_file, read_state
from esap_backends.local.store import JobDirectoryStore
from esap_messages import DiracStatus, SubmitJob, WorkflowRun, new_id, utcnow

TOKEN = "s3cret-token-" + "x" * 20


def _job(files: tuple[str, ...] = ("tool.sh",)) -> SubmitJob:
    return SubmitJob(job_id=new_id(), facility="local", backend="local",
                     workflow=WorkflowRun(slug="w", command=("sh", "tool.sh", "{A}"), files=files),
                     parameters={"A": "x y"}, execution_duration=0, callback_token=SecretStr(TOKEN))


@pytest.fixture
def store(tmp_path: Path) -> JobDirectoryStore:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "tool.sh").write_text("echo $1\n")
    return JobDirectoryStore(tmp_path / "jobs", workflows)


def test_create_writes_the_whole_directory_once(store: JobDirectoryStore) -> None:
    job = _job()
    created = store.create(job, plan_launch(job))
    job_dir = store.job_dir(str(job.job_id))
    assert sorted(p.name for p in job_dir.iterdir()) == ["job.json", "parameters.json", "state.jsonl", "tool.sh"]
    state = read_state(job_dir)
    assert state is not None and state.status is DiracStatus.RECEIVED
    assert created == state  # what the executor goes on with is what it wrote
    assert read_job_file(job_dir).argv == ("sh", "tool.sh", "x y")
    assert store.create(job, plan_launch(job)) is None
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]


def test_the_token_is_never_written(store: JobDirectoryStore) -> None:
    job = _job()
    store.create(job, plan_launch(job))
    for path in store.job_dir(str(job.job_id)).iterdir():
        assert TOKEN not in path.read_text()


def test_a_missing_workflow_file_is_permanent(store: JobDirectoryStore) -> None:
    job = _job(files=("absent.py",))
    with pytest.raises(PermanentBackendError):
        store.create(job, plan_launch(job))
    assert not store.root.exists() or not any(store.root.iterdir())


def test_a_tombstone_blocks_a_later_create(store: JobDirectoryStore) -> None:
    job = _job()
    intent = KillIntent(minor_status="aborted by its owner", requested_at=utcnow())
    assert store.create_tombstone(str(job.job_id), intent) is True
    assert store.create(job, plan_launch(job)) is None
    state = store.read_state(str(job.job_id))
    assert state is not None and state.tombstone and state.status is DiracStatus.KILLED


def test_job_ids_that_are_paths_are_refused(store: JobDirectoryStore) -> None:
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(PermanentBackendError):
            store.job_dir(bad)


def test_update_of_an_unknown_job_is_an_error(store: JobDirectoryStore) -> None:
    with pytest.raises(BackendError):
        store.update_state("nothing", status=DiracStatus.RUNNING)


def test_the_state_journal_reads_its_last_complete_line(store: JobDirectoryStore) -> None:
    job = _job()
    store.create(job, plan_launch(job))
    job_id = str(job.job_id)
    store.update_state(job_id, status=DiracStatus.RUNNING, pid=4242)
    journal = store.job_dir(job_id) / STATE_FILE
    with journal.open("ab") as handle:  # a writer cut off mid-line, as in a crash
        handle.write(b'{"job_id": "' + job_id.encode() + b'", "status": "Do')
    state = read_state(store.job_dir(job_id))
    assert state is not None and state.status is DiracStatus.RUNNING and state.pid == 4242
    assert len(journal.read_bytes().splitlines()) == 3


def test_scan_finds_unfinished_jobs_oldest_first(store: JobDirectoryStore) -> None:
    first, second = _job(), _job()
    for job in (first, second):
        store.create(job, plan_launch(job))
    store.update_state(str(second.job_id), status=DiracStatus.DONE)
    (store.root / ".incoming-leftover").mkdir()
    assert [s.job_id for s in store.scan_unfinished()] == [str(first.job_id)]
    store.remove_incoming()
    assert not (store.root / ".incoming-leftover").exists()

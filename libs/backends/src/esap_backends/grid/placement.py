"""Where a facility's DIRAC jobs may run (Site, Tags, Platform, JobGroup, CPU time, containers): the placement
both DIRAC backends (``dirac``, ``diracx``) read from their settings and put in each job. Pure, no I/O.

The settings fields are declared here once as annotated types (``Sites``, ``Tags``...): each backend's settings
class names its own fields with them (``dirac_sites: Sites = ""``), so the environment names stay the backend's
own. Depends on pydantic, esap_messages and the backend errors only; never on either DIRAC package.
"""

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from esap_backends.base import PermanentBackendError
from esap_messages import SubmitJob

# The facility's own values (Site, Tags, Platform) become JDL strings or Job API arguments: keep them to DIRAC's
# plain names.
_PLAIN = re.compile(r"^[A-Za-z0-9_.+-]{1,128}$")

Sites = Annotated[str, Field(description="Comma-separated DIRAC Sites the facility's jobs may run at.")]
Tags = Annotated[str, Field(description="Comma-separated DIRAC Tags every job requires (e.g. docker).")]
Platform = Annotated[str, Field(description="DIRAC Platform of the facility's jobs; empty for any.")]
JobGroup = Annotated[str, Field(description="JobGroup of every job esap-batch submits.")]
RuntimeEngine = Annotated[str, Field(
    description="The engine this facility runs containers with (docker, apptainer or singularity); with an image, "
    "also the default for workflows that name none. Empty: the workflow's own engine.")]
ContainerImage = Annotated[str, Field(
    description="Default image for workflows that name no container; a workflow's own image wins. Empty runs them "
    "as plain processes.")]
DefaultCpuTime = Annotated[int, Field(ge=1, description="CPUTime (s) of a job whose execution duration is unlimited.")]


@dataclass(frozen=True)
class FacilityPlacement:
    """Where a facility's jobs may run, from the facility's settings: DIRAC Site, Tags, Platform, containers."""

    sites: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    platform: str = ""
    job_group: str = "esap"
    runtime_engine: str = ""
    """The engine the facility runs containers with (docker, apptainer, singularity); "" runs each workflow's
    container with the engine the workflow names. With ``container_image``, also the default container of the
    workflows that name none."""
    container_image: str = ""
    """The default image of workflows that name no container; "" runs them as plain processes."""
    priority: int = 1
    default_cpu_time: int = 86400

    @classmethod
    def from_settings(cls, *, sites: str, tags: str, platform: str, job_group: str, runtime_engine: str,
                      container_image: str, default_cpu_time: int) -> "FacilityPlacement":
        """From settings as written: comma-separated sites and tags, values with stray spaces."""
        return cls(sites=_split(sites), tags=_split(tags), platform=platform.strip(), job_group=job_group,
                   runtime_engine=runtime_engine.strip(), container_image=container_image.strip(),
                   default_cpu_time=default_cpu_time)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def plain_name(value: str, what: str) -> str:
    """``value`` if it is a plain DIRAC name; PermanentBackendError (naming the facility's ``what``) otherwise."""
    if not _PLAIN.match(value):
        raise PermanentBackendError(f"the facility's {what} {value!r} is not a plain DIRAC name")
    return value


def cpu_time(execution_duration: int, placement: FacilityPlacement) -> int:
    """CPUTime in seconds: the UWS execution duration, or the facility's default when it is unlimited (0)."""
    return execution_duration if execution_duration > 0 else placement.default_cpu_time


RUNTIME_ENGINES = frozenset({"docker", "apptainer", "singularity"})
_SINGULARITY_LIKE = frozenset({"apptainer", "singularity"})
_DOCKER_SCHEME = "docker://"
# An image reference or a path (e.g. on CVMFS); it becomes one argv item of the engine, never shell text.
_IMAGE = re.compile(r"^[A-Za-z0-9/][A-Za-z0-9._:/@+-]{0,1023}$")


def container(job: SubmitJob, placement: FacilityPlacement) -> tuple[str, str] | None:
    """The engine and image the job runs in on the worker node, or None for a plain process.

    The workflow's own container wins; the facility's default applies only to workflows that name none. A
    facility that runs containers with Apptainer or Singularity runs a Docker image as ``docker://image``, and
    one that runs Docker takes a Singularity image only in that form. Raises PermanentBackendError otherwise.
    """
    engine = placement.runtime_engine
    if engine and engine not in RUNTIME_ENGINES:
        raise PermanentBackendError(f"the facility's runtime engine {engine!r} is not one of "
                                    f"{', '.join(sorted(RUNTIME_ENGINES))}")
    if job.runtime is None:
        if not placement.container_image:
            return None
        if not engine:
            raise PermanentBackendError("the facility's default container image needs a runtime engine")
        return engine, _image(placement.container_image)
    wanted, image = job.runtime.engine.value, _image(job.runtime.image)
    if not engine or engine == wanted or (engine in _SINGULARITY_LIKE and wanted in _SINGULARITY_LIKE):
        return engine or wanted, image
    if engine in _SINGULARITY_LIKE:  # a Docker image
        return engine, image if "://" in image else _DOCKER_SCHEME + image
    if image.startswith(_DOCKER_SCHEME):  # a Docker facility, a Singularity image that is a Docker one
        return engine, _image(image.removeprefix(_DOCKER_SCHEME))
    raise PermanentBackendError(f"the facility runs containers with {engine}; the workflow's {wanted} image "
                                f"{image!r} is not a Docker image")


def _image(image: str) -> str:
    if not _IMAGE.match(image):
        raise PermanentBackendError(f"{image[:80]!r} is not a container image reference")
    return image

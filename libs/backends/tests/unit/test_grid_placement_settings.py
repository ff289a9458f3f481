"""Classic DIRAC and DiracX read a facility's placement from fields declared once (esap_backends.grid.placement):
same defaults, same descriptions and limits, each under its own backend's name."""

import pytest
from pydantic import ValidationError

from esap_backends.dirac.settings import DiracSettings
from esap_backends.diracx.settings import DiracXSettings
from esap_backends.grid import FacilityPlacement

PLACEMENT = ("sites", "tags", "platform", "job_group", "runtime_engine", "container_image", "default_cpu_time")


@pytest.mark.parametrize("field", PLACEMENT)
def test_both_backends_declare_the_same_placement_field(field: str) -> None:
    dirac = DiracSettings.model_fields[f"dirac_{field}"]
    diracx = DiracXSettings.model_fields[f"diracx_{field}"]
    assert dirac.default == diracx.default
    assert dirac.description and dirac.description == diracx.description
    assert dirac.metadata == diracx.metadata


def test_the_placement_comes_from_each_backends_own_fields() -> None:
    dirac = DiracSettings(dirac_sites=" LCG.CNAF.it, ", dirac_default_cpu_time=7200).dirac_placement()
    diracx = DiracXSettings(diracx_tags="docker", diracx_runtime_engine=" apptainer ").diracx_placement()
    assert dirac == FacilityPlacement(sites=("LCG.CNAF.it",), default_cpu_time=7200)
    assert diracx == FacilityPlacement(tags=("docker",), runtime_engine="apptainer")


@pytest.mark.parametrize("settings", [DiracSettings, DiracXSettings])
def test_an_unlimited_cpu_time_of_zero_is_refused(settings: type[DiracSettings] | type[DiracXSettings]) -> None:
    field = "dirac_default_cpu_time" if settings is DiracSettings else "diracx_default_cpu_time"
    with pytest.raises(ValidationError):
        settings(**{field: 0})

from infra.env_example import REPO, render
from skyrisk.settings import ENV_PREFIX, Settings


def test_env_example_is_current():
    assert (REPO / ".env.example").read_text() == render(), "run `python -m infra.env_example`"


def test_env_example_documents_every_setting():
    text = (REPO / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"# {ENV_PREFIX}{name.upper()}=" in text, name

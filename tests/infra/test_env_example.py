from infra.env_example import REPO, TABLE_START, readme_with_table, render
from skyrisk.settings import ENV_PREFIX, Settings


def test_env_example_is_current():
    assert (REPO / ".env.example").read_text() == render(), "run `python -m infra.env_example`"


def test_env_example_documents_every_setting():
    text = (REPO / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"# {ENV_PREFIX}{name.upper()}=" in text, name


def test_readme_settings_table_is_current():
    readme = (REPO / "README.md").read_text()
    assert TABLE_START in readme
    assert readme_with_table(readme) == readme, "run `python -m infra.env_example`"

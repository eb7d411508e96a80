"""`python -m streaming` and `spark-submit streaming/__main__.py`: the streaming job."""

import sys
from pathlib import Path

if __package__ in (None, ""):
    # spark-submit runs this file as a script: make the repository importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streaming.app import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

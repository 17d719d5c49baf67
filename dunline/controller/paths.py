"""Where Dunline's own files are: the repository checkout it runs from."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

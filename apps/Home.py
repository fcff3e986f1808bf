"""`streamlit run apps/Home.py`: the toolkit's demo. Pages are found by file name in apps/pages/:
`<task>.py` for a task, `foundations_<topic>.py` for the course basics, `overview.py` for the start page.

The tasks come in the gallery's order, the course's (apps/gallery/gallery.json, `python -m toolkit.gallery`),
read without importing the toolkit: this script runs before every page, and Home loads no TensorFlow."""

import json
from pathlib import Path

import streamlit as st

APPS = Path(__file__).parent
PAGES = APPS / "pages"
GALLERY = APPS / "gallery" / "gallery.json"
TASKS = [Path(t["page"]).stem for t in json.loads(GALLERY.read_text())["tiles"]] if GALLERY.is_file() else []
ORDER = [
    *(stem for stem in TASKS if not stem.startswith("foundations_")),
    *("foundations_perceptron", "foundations_activations", "foundations_initialisation"),
    *("foundations_softmax_and_optimizers", "foundations_conv_arithmetic", "foundations_inside_a_network"),
]


def _title(stem: str) -> str:
    return stem.removeprefix("foundations_").replace("_", " ").capitalize()


def _order(path: Path) -> tuple[int, str]:
    return (ORDER.index(path.stem) if path.stem in ORDER else len(ORDER), path.stem)


st.set_page_config(page_title="toolkit", page_icon="🧰", layout="wide")
files = sorted((p for p in PAGES.glob("*.py") if p.stem != "overview"), key=_order)
sections = {
    "Tasks": [st.Page(PAGES / "overview.py", title="Home", default=True)]
    + [st.Page(p, title=_title(p.stem)) for p in files if not p.stem.startswith("foundations_")],
}
foundations = [st.Page(p, title=_title(p.stem)) for p in files if p.stem.startswith("foundations_")]
if foundations:
    sections["Foundations"] = foundations
st.navigation(sections).run()

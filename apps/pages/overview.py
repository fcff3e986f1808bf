"""Start page: a gallery of what each task does, a picture its shipped model made and the figure it reaches beside
the classic method it is measured against; every shipped model in a table below.

It reads only apps/gallery/ (`python -m toolkit.gallery` makes it): no model and no TensorFlow, so it opens at
once. Meanwhile the toolkit is imported in the background, so the page picked next opens fast too.
"""

import importlib
import json
import threading
from pathlib import Path

import streamlit as st

GALLERY = Path(__file__).parents[1] / "gallery"
COLUMNS = 3
VERDICT_COLOURS = {"beats": "green", "level": "blue", "trails": "orange"}


@st.cache_resource(show_spinner=False)
def import_toolkit_in_background() -> threading.Thread:
    """Every task page imports the toolkit (TensorFlow and Keras: seconds on two cores); do it while the gallery is
    read. Once per server; a page that needs it sooner waits for this import instead of starting its own."""
    thread = threading.Thread(target=importlib.import_module, args=("toolkit",), name="import toolkit", daemon=True)
    thread.start()
    return thread


def show_tile(tile: dict) -> None:
    st.subheader(tile["title"])
    st.write(tile["what"])
    if tile.get("picture"):
        st.image(str(GALLERY / tile["picture"]), caption=tile["caption"], width="stretch")
    st.markdown(f"**{tile['headline']}**")
    if "baseline" in tile:
        colour = VERDICT_COLOURS[tile["verdict"].split()[0]]
        st.markdown(f"vs {tile['baseline']}: :{colour}[{tile['verdict']}]")
    if "note" in tile:
        st.caption(tile["note"])
    st.page_link(tile["page"], label=f"Open {tile['title']}", icon=":material/arrow_forward:")


st.title("toolkit")
st.write(
    "Classic deep-learning results as Keras models: train with one command, load in one line, try here. Each "
    "picture below was made by a shipped model; each figure comes from its model card in `trained/`, beside the "
    "classic method it is measured against."
)
if not (GALLERY / "gallery.json").is_file():
    st.warning("The gallery has not been made yet: run `python -m toolkit.gallery`.")
    st.stop()
gallery = json.loads((GALLERY / "gallery.json").read_text())
tiles = gallery["tiles"]
for start in range(0, len(tiles), COLUMNS):
    for column, tile in zip(st.columns(COLUMNS), tiles[start : start + COLUMNS]):
        with column.container(border=True):
            show_tile(tile)

with st.expander("All shipped models"):
    st.dataframe(gallery["models"], hide_index=True, width="stretch")
st.caption(f"Pictures and figures: `{gallery['command']}`, rerun after shipping a model. Pages work offline.")
import_toolkit_in_background()

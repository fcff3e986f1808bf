"""Start page: what each task does and how well its shipped model does, read from the model cards."""

import streamlit as st

from toolkit import pretrained, tasks

st.title("toolkit")
st.write(
    "Classic deep-learning results as Keras models: train with one command, load in one line, try here. "
    "Every figure below comes from the model card beside the shipped model in `trained/`."
)

cards = [pretrained.card(name) for name in pretrained.list()]
rows = []
for name in tasks.names():
    task = tasks.get(name)
    shipped = [c for c in cards if c.get("task") == name]
    for card in shipped or [None]:
        rows.append(
            {
                "task": name,
                "what": task.summary,
                "model file": f"trained/{card['artifact']}.keras" if card else "not trained yet",
                "variant": card["variant"] if card else "",
                "metric": task.metric_label,
                "value": round(card["metrics"][task.metric], 3) if card else None,
                "trained on": ", ".join(card["hardware"]["accelerators"]) or "CPU" if card else "",
            }
        )
st.dataframe(rows, hide_index=True, width="stretch")
st.caption("Pick a task in the sidebar. Pages work offline on the shipped models.")

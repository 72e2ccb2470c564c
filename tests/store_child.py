"""A separate process that trains runs through a run store (for tests/test_store.py).

``python tests/store_child.py <data root> <store> <config JSON>...``: each config (RunConfig fields) is run in
turn on synthetic PathMNIST; one line ``RESULT {...}`` per run. ``$STORE_CHILD_BARRIER=<folder>:<n>``: wait
until ``n`` processes reached the folder before the first run (they then start together);
``$STORE_CHILD_HANG_AFTER=<marker>``: after the first epoch's checkpoint of the last config, write the marker
and hang (the test kills the process there).
"""

import json
import os
import sys
import time
from pathlib import Path

import torch

from dive import data, experiment
from dive.config import RunConfig


def main(root: str, store: str, *configs: str) -> None:
    torch.set_num_threads(1)
    bundle = data.load("pathmnist", root, split="report")
    barrier = os.environ.get("STORE_CHILD_BARRIER")
    if barrier:
        folder, n = barrier.rsplit(":", 1)
        Path(folder, str(os.getpid())).touch()
        while len(list(Path(folder).iterdir())) < int(n):
            time.sleep(0.01)
    hang = os.environ.get("STORE_CHILD_HANG_AFTER")
    for i, text in enumerate(configs):
        callbacks = []
        if hang and i == len(configs) - 1:

            def cb(epoch, record, model):
                if epoch == 1:
                    Path(hang).write_text(str(os.getpid()))
                    time.sleep(600)

            callbacks = [cb]
        r = experiment.run(bundle, RunConfig.from_dict(json.loads(text)), store=store, quiet=True, callbacks=callbacks)
        out = {
            "key": r.key,
            "loaded": r.loaded,
            "notes": r.notes,
            "history": [{k: v for k, v in e.items() if k != "seconds"} for e in r.history],
            "val": r.val["accuracy"],
            "resumed_from": r.fit.resumed_from,
        }
        print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])

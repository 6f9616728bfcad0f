"""The two stages whose work is the run's modality's, above the packages they read: `fit.py` (`nfgen fit`: fields
fitted in resumable chunks by the modality's fitter) and `evaluate.py` (`nfgen eval`: the default sample against a
reference set, by the modality's evaluation). They sit here, not in `fields/` and `metrics/`, because they look the
modality up in its registry (`nfgen_tui.modality`), which itself builds on `fields/` and `metrics/`; the eval stage
also reads the generator's checkpoint and samples (`model/`) and the tokens (`tokens/`). The other stages live with
their package: the codebook in `tokens/stage.py`, training and sampling in each generator's stage module (`model/`).
"""

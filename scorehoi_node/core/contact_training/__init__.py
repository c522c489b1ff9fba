"""Training data, training and evaluation of the learned contact predictor
(`core/estimate/contact_net.py`): offline tools over the data engine, the prior's state codec
and the refinement, kept out of `core/estimate` so the run-time estimate never imports them."""

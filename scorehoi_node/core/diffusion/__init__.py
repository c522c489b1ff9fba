"""ScoreHOI: a diffusion prior over the joint human-object state, sampled with score guidance.

denoiser.py   residual MLP eps_theta(x_t, t, c) with FiLM conditioning on observation features
schedule.py   diffusers DDIM scheduler + inverse scheduler (T = 1000, cosine, eps-prediction)
condition.py  observation features c (keypoints, object class and box, initial estimate)
state.py      HOI estimate <-> normalised state vector x (StateLayout), differentiable decoding
guidance/     one module per physical / observation term; each maps a reconstruction to a loss
sampler.py    DDIM inversion 0 -> tau, guided DDIM tau -> 0
train.py      training on HOIShard data (`scorehoi train`)
"""

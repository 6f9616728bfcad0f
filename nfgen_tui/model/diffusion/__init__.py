"""The weight-space diffusion generator (model.kind = diffusion): a denoiser over the fitted fields' weights.

schedule.py: the noise schedule, q(x_t | x_0) and the DDIM step; tokens.py: how a weight vector becomes tokens;
denoiser.py: the transformer that predicts x0; train.py: its resumable loop; stage.py: train / sample stages.
"""

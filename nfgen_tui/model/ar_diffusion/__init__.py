"""The autoregressive generator over continuous tokens (model.kind = ar-diffusion): MAR without a codebook.

A field's vector — its code c (a subspace run) or its flat weights — is read in tokens of `ar.chunk` numbers, in the
vector's own order (a PCA-started code: coarse to fine). A causal transformer over the class token and the tokens so
far gives each position an output z_i, and a small diffusion head denoises token i given z_i (Li et al. 2024).
net.py: the transformer and the head; train.py: the diffusion loss per token in the shared loop; sample.py: token by
token with a KV cache, DDIM over the head, guidance and temperature; stage.py: the train / sample stages.
"""

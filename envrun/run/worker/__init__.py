"""The worker: loads a model and predicts inside the model's env, standard library only.

Python 3.8+, relative imports only, nothing from envrun outside this folder: the env runs it
through ``envrun/run/_runner.py``, which exposes this package alone under a private name, and the
host imports the same modules for in-process runs and for the protocol constants.

protocol    versions, file names, input keys, dtypes, error codes, the frame format
request     the request and its checks          inputs     parsing (files and bytes)
signature   enforcement as MLflow's pyfunc does  loading    load the model, call predict
encoding    the lossless tree, MLflow's JSON     oneshot    the control-dir entry
persistent  the pool worker's loop on its pipes
"""

"""Models: packaging with flavors and signatures, and safe loading for prediction.

``yard.log_model(model, name="model", input_example=X[:5])`` writes the model in its
flavor's format (scikit-learn, XGBoost, LightGBM, ONNX, or your own :class:`PythonModel`)
with a manifest that records its signature, requirements and the BLAKE3 digest of every
file, and stores it with the active run. ``yard.load_model(uri)`` checks every file against
those digests before anything is deserialized and returns a :class:`Predictor` whose
``predict`` enforces the signature. Importing this package is light: frameworks load only
when a model of theirs is saved or loaded.

>>> Signature(inputs=[ColSpec("age", "long")]).to_dict()
{'inputs': [{'name': 'age', 'type': 'long'}], 'outputs': []}
"""

from __future__ import annotations

from modelyard.models.flavors.python import PythonModel
from modelyard.models.manifest import FileEntry, ModelManifest
from modelyard.models.package import ModelInfo, get_model_info, log_model, save_model
from modelyard.models.predictor import Predictor, load_model
from modelyard.models.signature import (
    ColSpec,
    Signature,
    SignatureError,
    TensorSpec,
    infer_signature,
)

__all__ = [
    "ColSpec",
    "FileEntry",
    "ModelInfo",
    "ModelManifest",
    "Predictor",
    "PythonModel",
    "Signature",
    "SignatureError",
    "TensorSpec",
    "get_model_info",
    "infer_signature",
    "load_model",
    "log_model",
    "save_model",
]

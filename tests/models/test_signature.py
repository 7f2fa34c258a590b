"""Signatures: inference, JSON round trip, and enforcement with every problem in one error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidArgument
from modelyard.models import ColSpec, Signature, SignatureError, TensorSpec, infer_signature
from modelyard.models.enforcement import InputPlan


def _plan(*specs: ColSpec | TensorSpec, wants: str = "frame") -> InputPlan:
    return InputPlan.build(Signature(inputs=list(specs)), wants, label="model 'm'")


COLUMNS = (ColSpec("age", "long"), ColSpec("income", "double"), ColSpec("city", "string"))


def test_infer_from_dataframe_maps_every_type():
    df = pd.DataFrame(
        {
            "d": [1.5],
            "f": np.array([1.5], dtype="float32"),
            "l": [1],
            "i": np.array([1], dtype="int32"),
            "b": [True],
            "s": ["x"],
            "o": pd.Series(["x"], dtype=object),
            "t": pd.to_datetime(["2024-01-01"]),
            "y": [b"raw"],
            "c": pd.Categorical(["a"]),
        }
    )
    sig = infer_signature(df)
    assert [(c.name, c.type) for c in sig.inputs] == [
        ("d", "double"),
        ("f", "float"),
        ("l", "long"),
        ("i", "integer"),
        ("b", "boolean"),
        ("s", "string"),
        ("o", "string"),
        ("t", "datetime"),
        ("y", "binary"),
        ("c", "string"),
    ]
    assert sig.kind == "columns"


def test_infer_from_ndarray_and_output():
    sig = infer_signature(np.zeros((5, 3), dtype="float32"), np.array(["a"] * 5))
    assert sig.inputs == (TensorSpec("float32", (-1, 3)),)
    assert sig.outputs == (TensorSpec("str", (-1,)),)
    assert sig.kind == "tensor"


def test_infer_from_records():
    sig = infer_signature([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    assert [(c.name, c.type) for c in sig.inputs] == [("a", "long"), ("b", "string")]


def test_json_round_trip():
    sig = Signature(
        inputs=[ColSpec("a", "double"), ColSpec("b", "string", required=False)],
        outputs=[TensorSpec("int64", (-1,))],
    )
    data = sig.to_dict()
    assert data["inputs"][1] == {"name": "b", "type": "string", "required": False}
    assert Signature.from_dict(data) == sig
    tensor = Signature(inputs=[TensorSpec(np.float64, [-1, 4])])
    assert Signature.from_dict(tensor.to_dict()) == tensor


def test_bad_specs_are_refused_with_a_clear_message():
    with pytest.raises(InvalidArgument, match="'dbl'; expected one of double"):
        ColSpec("a", "dbl")
    with pytest.raises(InvalidArgument, match="all ColSpec or all TensorSpec"):
        Signature(inputs=[ColSpec("a", "double"), TensorSpec("float64", (-1,))])
    with pytest.raises(InvalidArgument, match="twice"):
        Signature(inputs=[ColSpec("a", "double"), ColSpec("a", "long")])
    with pytest.raises(InvalidArgument, match="not a numpy dtype"):
        TensorSpec("nope", (-1,))
    with pytest.raises(InvalidArgument, match="neither a column"):
        Signature.from_dict({"inputs": [{"what": 1}]})


def test_matching_frame_passes_through_unchanged():
    plan = _plan(*COLUMNS)
    df = pd.DataFrame({"age": [31], "income": [1.0], "city": ["Oslo"]})
    assert plan.prepare(df) is df


def test_columns_are_reordered_and_widened():
    plan = _plan(*COLUMNS)
    df = pd.DataFrame(
        {"city": ["Oslo"], "income": np.array([3], dtype="int16"), "age": np.array([31], "int8")}
    )
    out = plan.prepare(df)
    assert list(out.columns) == ["age", "income", "city"]
    assert out["income"].dtype == np.float64 and out["age"].dtype == np.int64
    assert out["income"].iloc[0] == 3.0


def test_every_problem_is_listed_in_one_error():
    plan = _plan(*COLUMNS)
    df = pd.DataFrame({"income": ["a lot"], "city": ["Oslo"], "zip": [1234], "extra2": [1]})
    with pytest.raises(SignatureError) as info:
        plan.prepare(df)
    err = info.value
    assert isinstance(err, InvalidArgument) and isinstance(err, ValueError)
    assert err.status == 422 and err.code == "SignatureError"
    assert err.problems == [
        "column 'age' (long) is missing",
        "column 'income' is string, expected double: no safe conversion",
        "column 'zip' is not in the signature (extra column; pass strict=False to ignore "
        "extra columns)",
        "column 'extra2' is not in the signature (extra column; pass strict=False to ignore "
        "extra columns)",
    ]
    for problem in err.problems:
        assert problem in err.message
    assert "4 problems" in err.message and "model 'm'" in err.message
    body = err.to_dict()
    assert body["status"] == 422 and body["error"]["problems"] == err.problems
    assert "age (long), income (double), city (string)" in (err.hint or "")


def test_strict_false_drops_extra_columns():
    plan = _plan(*COLUMNS)
    df = pd.DataFrame({"zip": [1], "city": ["Oslo"], "income": [2.0], "age": [3]})
    out = plan.prepare(df, strict=False)
    assert list(out.columns) == ["age", "income", "city"]


def test_unsafe_conversions_are_refused():
    plan = _plan(ColSpec("a", "integer"), ColSpec("b", "long"), ColSpec("c", "float"))
    df = pd.DataFrame({"a": [2**40], "b": [1.5], "c": [1.5]})
    with pytest.raises(SignatureError) as info:
        plan.prepare(df)
    assert info.value.problems == [
        "column 'a' is long, expected integer: no safe conversion",
        "column 'b' is double, expected long: no safe conversion",
        "column 'c' is double, expected float: no safe conversion",
    ]
    # long values that fit in 32 bits are converted
    out = plan.prepare(pd.DataFrame({"a": [7], "b": [1], "c": np.array([1], "float32")}))
    assert out["a"].dtype == np.int32


def test_missing_values_in_an_integer_column_are_explained():
    plan = _plan(ColSpec("a", "long"))
    with pytest.raises(SignatureError, match="missing values"):
        plan.prepare([{"a": 1}, {"a": None}])


def test_booleans_are_not_numbers():
    plan = _plan(ColSpec("a", "double"))
    with pytest.raises(SignatureError, match="'a' is boolean, expected double"):
        plan.prepare(pd.DataFrame({"a": [True]}))


def test_optional_columns_may_be_absent():
    plan = _plan(ColSpec("a", "double"), ColSpec("b", "double", required=False))
    assert list(plan.prepare(pd.DataFrame({"a": [1.0]})).columns) == ["a"]


def test_records_dict_and_arrays_become_frames():
    plan = _plan(*COLUMNS)
    out = plan.prepare(
        [{"city": "Oslo", "age": 31, "income": 2.5}, {"city": "Rome", "age": 4, "income": 1}]
    )
    assert out.to_dict("list") == {"age": [31, 4], "income": [2.5, 1.0], "city": ["Oslo", "Rome"]}
    one = plan.prepare({"city": "Oslo", "age": 31, "income": 2.5})
    assert len(one) == 1
    columns = plan.prepare({"city": ["Oslo", "Rome"], "age": [1, 2], "income": [1.0, 2.0]})
    assert len(columns) == 2
    numeric = _plan(ColSpec("a", "double"), ColSpec("b", "double"))
    assert list(numeric.prepare(np.ones((2, 2))).columns) == ["a", "b"]
    with pytest.raises(SignatureError, match=r"shape \(2, 3\), expected a table of 2 columns"):
        numeric.prepare(np.ones((2, 3)))


def test_array_wanted_gets_an_array_in_signature_order():
    plan = _plan(ColSpec("a", "double"), ColSpec("b", "double"), wants="array")
    out = plan.prepare(pd.DataFrame({"b": [2.0], "a": [1.0]}))
    assert isinstance(out, np.ndarray) and out.tolist() == [[1.0, 2.0]]


def test_tensor_shape_and_dtype_are_enforced():
    plan = _plan(TensorSpec("float64", (-1, 3)), wants="array")
    arr = np.ones((2, 3))
    assert plan.prepare(arr) is arr
    assert plan.prepare(np.ones((2, 3), dtype="int32")).dtype == np.float64
    assert plan.prepare([[1, 2, 3]]).shape == (1, 3)
    with pytest.raises(SignatureError) as info:
        plan.prepare(np.array([["a", "b"]]))
    assert info.value.problems == [
        "array shape (1, 2) does not match (-1, 3): dimension 1 is 2, expected 3",
        "array dtype <U1 cannot be safely converted to float64",
    ]
    with pytest.raises(SignatureError, match="3 dimensions"):
        plan.prepare(np.ones((2, 3, 1)))
    with pytest.raises(SignatureError, match="reshape"):
        plan.prepare(np.ones(3))
    narrow = _plan(TensorSpec("float32", (-1, 3)))
    with pytest.raises(SignatureError, match="float64 cannot be safely converted to float32"):
        narrow.prepare(np.ones((1, 3)))
    with pytest.raises(SignatureError, match="expected an array"):
        narrow.prepare([{"a": 1}])


def test_tensor_plan_gives_frames_to_models_fitted_on_frames():
    plan = InputPlan.build(
        Signature(inputs=[TensorSpec("float64", (-1, 2))]), "frame", ["a", "b"], "m"
    )
    out = plan.prepare(np.ones((1, 2)))
    assert list(out.columns) == ["a", "b"]


def test_no_signature_still_converts_records():
    plan = InputPlan.build(None, "array")
    assert isinstance(plan.prepare([{"a": 1.0}]), np.ndarray)
    frame_plan = InputPlan.build(None, "frame", ["a", "b"])
    assert list(frame_plan.prepare(np.ones((1, 2))).columns) == ["a", "b"]

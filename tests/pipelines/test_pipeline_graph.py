"""Steps, pipelines and their graphs; code closures and cache keys; the DAG picture."""

from __future__ import annotations

import pytest

import modelyard as yard
from modelyard.errors import InvalidArgument
from modelyard.pipelines import code_closure, pipeline_svg
from modelyard.pipelines.keys import cache_key, canonical
from modelyard.pipelines.steps import parse_duration

THRESHOLD = 0.5


def helper(x):
    return x * THRESHOLD


class Scaler:
    def scale(self, x):
        return helper(x) + 1


@yard.step
def load(n: int):
    return list(range(n))


@yard.step(retries=2, timeout="10m", cache_expiry="7d", resources={"num_cpus": 2})
def train(xs, c: float = 1.0):
    return Scaler().scale(sum(xs)) * c


@yard.step(outputs=["low", "high"])
def split(xs):
    return xs[:1], xs[1:]


@yard.step
def merge(a, b):
    return a + b


@yard.pipeline
def flow(n: int = 3, c: float = 1.0):
    xs = load(n)
    low, high = split(xs)
    train(merge(low, high), c)
    train(xs, c)


def test_steps_outside_a_pipeline_are_plain_functions():
    assert load(3) == [0, 1, 2]
    assert train([1, 1], c=2.0) == pytest.approx(4.0)


def test_options_are_parsed():
    assert train.options.retries == 2
    assert train.options.timeout == 600.0
    assert train.options.cache_expiry == 7 * 86400
    assert train.options.resources == {"num_cpus": 2.0}

    def pinned() -> int:
        return 1

    custom = yard.step(resources={"num_cpus": 1, "big_disk": 1})(pinned)
    assert custom.options.resources == {"num_cpus": 1.0, "big_disk": 1.0}  # a custom Ray resource
    assert train.options.delay(2) == 1.0 and train.options.delay(3) == 2.0
    assert parse_duration("90s", "timeout") == 90 and parse_duration("2h", "t") == 7200


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"timeout": "soon"}, "timeout must be a positive number"),
        ({"retries": -1}, "retries of step 'f' must be an int"),
        ({"resources": {"CPU": 1}}, "resources of step 'f'"),  # Ray's name: use num_cpus
        ({"resources": {"num_gpus": -1}}, "resources of step 'f'"),
        ({"resources": {"big disk": 1}}, "resources of step 'f'"),
        ({"outputs": "x"}, "outputs of step 'f'"),
        ({"inputs": ["nope"]}, "declares input 'nope'"),
    ],
)
def test_bad_options_say_what_to_do(options, match):
    def f(x):
        return x

    with pytest.raises(InvalidArgument, match=match) as info:
        yard.step(**options)(f)
    assert info.value.hint


def test_calls_inside_a_pipeline_build_the_graph():
    graph = flow.graph(n=4)
    assert [n.name for n in graph.nodes] == ["load", "split", "merge", "train", "train_2"]
    assert graph.params == {"n": 4, "c": 1.0}
    assert ("load", "split") in graph.edges and ("merge", "train") in graph.edges
    merge_node = graph.node("merge")
    assert merge_node.inputs == {"a": ("split", "low"), "b": ("split", "high")}
    assert graph.node("train_2").params == {"c": 1.0}
    assert graph.downstream(["split"]) == {"split", "merge", "train"}
    with pytest.raises(InvalidArgument, match="has no step 'nope'"):
        graph.node("nope")


def test_pipeline_mistakes_are_explained():
    with pytest.raises(InvalidArgument, match="run\\(\\) uses for its own options"):

        @yard.pipeline
        def bad(executor: str = "x"):
            pass

    with pytest.raises(InvalidArgument, match="cannot take params"):
        flow.graph(m=1)

    @yard.pipeline
    def branches():
        if load(1):  # a handle has no value yet
            pass

    with pytest.raises(InvalidArgument, match="has no value while the pipeline is being built"):
        branches.graph()

    @yard.pipeline
    def nested():
        merge([load(1)], 2)

    with pytest.raises(InvalidArgument, match="inside a container"):
        nested.graph()

    @yard.pipeline
    def empty():
        pass

    with pytest.raises(InvalidArgument, match="calls no steps"):
        empty.graph()


def test_code_closure_reaches_the_users_functions_classes_and_constants():
    names = code_closure(train.func)
    module = __name__
    assert f"{module}.train" in names
    assert f"{module}.Scaler" in names and f"{module}.Scaler.scale" in names
    assert f"{module}.helper" in names and f"{module}.THRESHOLD" in names
    assert not any(n.startswith(("pytest", "modelyard")) for n in names)


def _compile(source: str) -> dict:
    scope: dict = {"__name__": "snippet"}
    exec(compile(source, "<snippet>", "exec"), scope)
    return scope


def test_code_digest_ignores_layout_and_comments_but_not_behaviour():
    base = _compile("def f(x):\n    return x + 1\n")["f"]
    moved = _compile("\n\n# a comment\ndef f(x):\n\n    return x + 1  # same\n")["f"]
    changed = _compile("def f(x):\n    return x + 2\n")["f"]
    assert code_closure(base) == code_closure(moved)
    assert code_closure(base) != code_closure(changed)


def test_canonical_values_and_keys_are_stable():
    assert canonical({"b": (1, 2), "a": {3, 1}}) == {"a": {"set": [1, 3]}, "b": {"tuple": [1, 2]}}
    assert canonical(float("nan")) == {"float": "nan"}
    comps = {"code": {}, "params": {"C": 1.0}, "inputs": {}, "files": {}, "environment": "e"}
    assert cache_key(comps) == cache_key(dict(reversed(list(comps.items()))))
    assert cache_key(comps) != cache_key({**comps, "params": {"C": 2.0}})


def test_pipeline_svg_lays_out_every_step():
    svg = pipeline_svg(flow)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    for name in ("load", "split", "merge", "train", "train_2"):
        assert f'data-step="{name}"' in svg
    assert svg.count("marker-end") == sum(len(n.inputs) for n in flow.graph().nodes)

import msgspec
import pytest

from wasmfaas import FunctionConfig, InvalidParameterError
from wasmfaas.config import validate_function_name


def test_defaults_are_lambdas() -> None:
    config = FunctionConfig()
    assert (config.memory_mb, config.timeout, config.environment) == (128, 3.0, {})
    assert config.fuel is None and config.reserved_concurrency is None and config.provisioned_concurrency == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"memory_mb": 64}, "memory_mb"),
        ({"memory_mb": 10241}, "memory_mb"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 901}, "timeout"),
        ({"fuel": 0}, "fuel"),
        ({"reserved_concurrency": -1}, "reserved_concurrency"),
        ({"provisioned_concurrency": -1}, "provisioned_concurrency"),
        ({"reserved_concurrency": 1, "provisioned_concurrency": 2}, "provisioned_concurrency"),
        ({"environment": {"1BAD": "x"}}, "environment.1BAD"),
        ({"environment": {"A": "x"}}, "environment.A"),
        ({"environment": {"AWS_REGION": "x"}}, "environment.AWS_REGION"),
        ({"environment": {"AWS_LAMBDA_FUNCTION_NAME": "x"}}, "environment.AWS_LAMBDA_FUNCTION_NAME"),
        ({"environment": {"BIG": "x" * 4094}}, "environment"),
        # Types too, as decoding JSON checks them: a float memory size once reached the registry, which then could
        # not read it back, and a persistent platform could not start again.
        ({"memory_mb": 128.5}, "memory_mb"),
        ({"memory_mb": "256"}, "memory_mb"),
        ({"timeout": "3"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"fuel": 1.5}, "fuel"),
        ({"fuel": True}, "fuel"),
        ({"reserved_concurrency": 2.0}, "reserved_concurrency"),
        ({"provisioned_concurrency": None}, "provisioned_concurrency"),
        ({"environment": None}, "environment"),
        ({"environment": {"KEY": 5}}, "environment.KEY"),
    ],
)
def test_bad_values_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        FunctionConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)


def test_environment_up_to_4kb_is_fine() -> None:
    FunctionConfig(environment={"BIG": "x" * 4093})


def test_decoding_validates_too() -> None:
    config = msgspec.json.decode(b'{"memory_mb": 256, "timeout": 10}', type=FunctionConfig)
    assert config.memory_mb == 256
    with pytest.raises(msgspec.ValidationError, match="memory_mb"):
        msgspec.json.decode(b'{"memory_mb": 1}', type=FunctionConfig)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"memory": 256}', type=FunctionConfig)


@pytest.mark.parametrize("name", ["a", "my-function_1", "x" * 64])
def test_good_names(name: str) -> None:
    assert validate_function_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "has space", "dot.name", "slash/name", 7])
def test_bad_names(name: object) -> None:
    with pytest.raises(InvalidParameterError, match="FunctionName"):
        validate_function_name(name)


def test_the_environment_is_a_copy_that_cannot_change() -> None:
    given = {"GREETING": "hi"}
    config = FunctionConfig(environment=given)
    given["AWS_REGION"] = "elsewhere"  # the caller's dict is not the configuration's
    assert config.environment == {"GREETING": "hi"}
    with pytest.raises(TypeError):
        config.environment["OTHER"] = "x"
    with pytest.raises(TypeError):
        config.environment.update(OTHER="x")
    assert config.environment == {"GREETING": "hi"}
    assert msgspec.json.decode(msgspec.json.encode(config), type=FunctionConfig) == config

"""Parameter Store Change events on EventBridge (Systems Manager User Guide: "Monitoring
Systems Manager events with Amazon EventBridge", "Setting up notifications or trigger actions
based on Parameter Store events", and the Parameter Store event examples).

When a parameter is created, overwritten or deleted, Systems Manager puts an event on the
default event bus of the parameter's account and Region, where rules route it
(event_delivery):

    {"version": "0", "id": "<uuid>", "detail-type": "Parameter Store Change",
     "source": "aws.ssm", "account": "<owner>", "time": "YYYY-MM-DDTHH:MM:SSZ",
     "region": "<region>", "resources": ["arn:aws:ssm:<region>:<owner>:parameter/<name>"],
     "detail": {"operation": "Create", "name": "<name>", "type": "String",
                "description": "<description>"}}

- `operation`: PutParameter of a new parameter `Create`; PutParameter with Overwrite of an
  existing one `Update`; DeleteParameter, and each parameter DeleteParameters deleted,
  `Delete` (names it did not delete make no event);
- `name` as the parameter is named (a path keeps its leading slash), `type` String,
  StringList or SecureString (for a delete: the deleted parameter's);
- `description` only when the parameter has one (*modelling choice*: AWS's sample event shows
  it for a parameter with a description; events seen for parameters without one have no such
  key).

Also through CloudFormation (the patch is on the backend). Not modelled: LabelParameterVersion
events, parameter policy events, and AWS's delay ("best effort", usually seconds): the event is
delivered during the API call.
"""

from __future__ import annotations

from typing import Any

from moto.ssm.models import SimpleSystemManagerBackend
from moto.ssm.utils import parameter_arn

from ._common import wrap
from .event_delivery import new_event, put_on_default_bus


def change_event(backend: Any, parameter: Any, operation: str) -> dict[str, Any]:
    account, region = backend.account_id, backend.region_name
    detail = {"operation": operation, "name": parameter.name, "type": parameter.parameter_type}
    if parameter.description:
        detail["description"] = parameter.description
    return new_event(
        account,
        region,
        "aws.ssm",
        "Parameter Store Change",
        [parameter_arn(account, region, parameter.name)],
        detail,
    )


def _announce(backend: Any, parameter: Any, operation: str) -> None:
    put_on_default_bus(change_event(backend, parameter, operation))


def _put_parameter(original):
    def put_parameter(self, *args: Any, **kwargs: Any) -> Any:
        parameter = original(self, *args, **kwargs)
        _announce(self, parameter, "Create" if parameter.version == 1 else "Update")
        return parameter

    return put_parameter


def _delete_parameter(original):
    def delete_parameter(self, name: str) -> None:
        parameter = self.get_parameter(name)
        original(self, name)
        _announce(self, parameter, "Delete")

    return delete_parameter


def _delete_parameters(original):
    def delete_parameters(self, names: list[str]) -> list[str]:
        before = {name: self.get_parameter(name) for name in names}
        deleted = original(self, names)
        for name in deleted:
            if before.get(name) is not None:
                _announce(self, before[name], "Delete")
        return deleted

    return delete_parameters


def apply() -> str:
    wrap(SimpleSystemManagerBackend, "put_parameter", _put_parameter)
    wrap(SimpleSystemManagerBackend, "delete_parameter", _delete_parameter)
    wrap(SimpleSystemManagerBackend, "delete_parameters", _delete_parameters)
    return "parameter-store-change-events"

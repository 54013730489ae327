"""The start step: the upload rule's target (and the DriftDetected rule's: ``start_retraining``). Starts the
training run of an uploaded object version under a name derived from that version, so every event about it
(EventBridge delivers at least once; a multipart upload raises two) names the same execution and Step Functions
refuses the duplicates. A refused duplicate is a success: the run exists. Uploads of feature views
(``views/<view>/<file>``) start the materialisation machine the same way."""

from __future__ import annotations

from slipway import layout
from slipway.contracts.drift import RetrainingOrder
from slipway.contracts.training import StartedRun, StartTrainingRequest
from slipway.domain.run_names import run_name_for_object, run_name_for_retraining
from slipway.errors import InternalError
from slipway.ports import Deps
from slipway.spec.monitoring import RetrainingSpec
from slipway.stores.retraining import claim_retraining
from slipway.stores.specs import current_spec


def start_training(deps: Deps, request: StartTrainingRequest) -> StartedRun:
    """A model's upload starts a training run; an upload under ``views/<view>/`` a materialisation of the view."""
    raw = request.raw
    if layout.view_of_raw_key(raw.key) is not None:
        machine = deps.settings.materialise_state_machine_arn
        if not machine:
            raise InternalError("MATERIALISE_STATE_MACHINE_ARN is not set for the start-training function")
    else:
        machine = deps.settings.training_state_machine_arn
        if not machine:
            raise InternalError("TRAINING_STATE_MACHINE_ARN is not set for the start-training function")
    name = run_name_for_object(raw.bucket, raw.key, raw.version_id, request.etag)
    started = deps.workflows.start(machine, name, request.execution_input())
    return StartedRun(run_id=name, execution_arn=started.execution_arn, already_exists=started.already_exists)


def start_retraining(deps: Deps, order: RetrainingOrder) -> StartedRun | str:
    """The DriftDetected rule's target: one training run per drift check that claimed the retraining (the name
    comes from the check, so a redelivered event names the same execution), starting from curated data.

    Only an environment that trains (no promotion source: dev) retrains; in staging and prod, whose versions
    come by promotion, nothing starts here: their DriftToSourceRule forwards the event towards dev. A drift found
    elsewhere claims the model's retraining here too, for the cooldown of this environment's spec: of a drift in
    staging and one in prod, the first retrains. Returns why nothing started, when nothing did."""
    if deps.settings.promotion_source_env is not None:
        return f"{deps.settings.env} takes its versions by promotion: the drift is retrained in dev"
    if order.env and order.env != deps.settings.env:
        spec, _ = current_spec(deps, order.model)
        cooldown = spec.monitoring.retraining.cooldown if spec.monitoring else RetrainingSpec().cooldown
        claim = claim_retraining(deps, order.model, order.check_id, order.version, cooldown, order.env)
        if not claim.granted:
            return claim.reason
    machine = deps.settings.training_state_machine_arn
    if not machine:
        raise InternalError("TRAINING_STATE_MACHINE_ARN is not set for the start-training function")
    name = run_name_for_retraining(order.model, order.check_id)
    started = deps.workflows.start(machine, name, {"retrain": order.model_dump(mode="json")})
    return StartedRun(run_id=name, execution_arn=started.execution_arn, already_exists=started.already_exists)

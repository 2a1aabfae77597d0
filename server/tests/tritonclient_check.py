"""Checks churn-server's Open Inference Protocol with unmodified Python clients.

    python tritonclient_check.py --addr 127.0.0.1:50153 --proto-dir proto --client tritonclient
    python tritonclient_check.py --addr 127.0.0.1:50153 --proto-dir proto --client kserve

With `tritonclient` (tritonclient[grpc]): is_server_live, is_server_ready, is_model_ready,
get_model_metadata, infer by customer id with tritonclient's own BYTES encoding (raw contents), the same
request built by hand with `bytes_contents` through tritonclient's generated stubs, and infer by features
(FP64 and BYTES inputs). With `kserve` (KServe's InferenceGRPCClient): liveness, readiness and infer by
customer id. Probabilities must equal churn.v1's answers (Score by id, ScoreFeatures by features, called
through stubs generated from proto/ with grpcio-tools) within 1e-12; bands and reasons must be equal.

The two clients register the same protobuf package (`inference`) under different file names, so one
process loads only one of them: server/tests/tritonclient.sh runs this script once per client.
Exits 1 with a message on the first mismatch.
"""

import argparse
import importlib
import math
import random
import sys
import tempfile
from pathlib import Path

import grpc
import numpy as np

MODEL = "churn"
TOLERANCE = 1e-12
REASONS = 2


def fail(message: str) -> None:
    print(f"tritonclient_check.py: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def churn_v1_stubs(proto_dir: Path):
    """churn.v1's messages and stub, generated from proto/ at run time (as notebook 03 does)."""
    from grpc_tools import protoc

    out = Path(tempfile.mkdtemp(prefix="churn-stubs-"))
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"--proto_path={proto_dir}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(proto_dir / "churn" / "v1" / "scoring.proto"),
        ]
    )
    check(status == 0, f"protoc failed with status {status}")
    sys.path.insert(0, str(out))
    return importlib.import_module("churn.v1.scoring_pb2"), importlib.import_module("churn.v1.scoring_pb2_grpc")


class ChurnV1:
    """The answers to compare with, from churn.v1.ScoringService."""

    def __init__(self, addr: str, proto_dir: Path):
        self.pb2, pb2_grpc = churn_v1_stubs(proto_dir)
        self.stub = pb2_grpc.ScoringServiceStub(grpc.insecure_channel(addr))

    def known_ids(self, count: int) -> list:
        """`count` customers of the snapshot (the generator names them C000001, C000002, ...)."""
        candidates = [f"C{i:06d}" for i in range(1, 2001)]
        batch = self.stub.ScoreBatch(self.pb2.ScoreBatchRequest(customer_ids=candidates), timeout=10)
        known = [r.customer_id for r in batch.results if r.WhichOneof("outcome") == "score"]
        check(len(known) >= count, f"only {len(known)} of C000001..C002000 are in the snapshot")
        return known[:count]

    def scores(self, ids: list) -> list:
        return [
            self.stub.Score(self.pb2.ScoreRequest(customer_id=i, max_reasons=REASONS), timeout=10).score for i in ids
        ]

    def features(self) -> list:
        """The model's features as (name, kind), kind `numeric` or `categorical`."""
        info = self.stub.GetModelInfo(self.pb2.GetModelInfoRequest(), timeout=10)
        return [(f.name, f.kind) for f in info.features]

    def score_features(self, row: dict) -> object:
        features = {}
        for name, value in row.items():
            if value is None:
                features[name] = self.pb2.FeatureValue(missing=True)
            elif isinstance(value, str):
                features[name] = self.pb2.FeatureValue(text=value)
            else:
                features[name] = self.pb2.FeatureValue(number=value)
        request = self.pb2.ScoreFeaturesRequest(features=features, max_reasons=REASONS)
        return self.stub.ScoreFeatures(request, timeout=10).score


def compare(what: str, probabilities, bands, reasons, expected: list) -> None:
    """Checks an inference answer against churn.v1 scores, element by element."""
    check(len(probabilities) == len(expected), f"{what}: {len(probabilities)} probabilities for {len(expected)}")
    check(probabilities.dtype == np.float64, f"{what}: churn_probability is {probabilities.dtype}, not float64")
    for i, score in enumerate(expected):
        difference = abs(float(probabilities[i]) - score.churn_probability)
        check(difference <= TOLERANCE, f"{what}: element {i} differs from churn.v1 by {difference:g}")
        band = bands[i].decode() if isinstance(bands[i], bytes) else str(bands[i])
        check(band == score.risk_band, f"{what}: element {i} has band {band!r}, churn.v1 {score.risk_band!r}")
        if reasons is not None:
            check(reasons.shape == (len(expected), REASONS), f"{what}: reasons have shape {reasons.shape}")
            want = [r.text for r in score.reasons[:REASONS]] + [""] * (REASONS - len(score.reasons))
            got = [r.decode() if isinstance(r, bytes) else str(r) for r in reasons[i]]
            check(got == want, f"{what}: element {i} has reasons {got}, churn.v1 {want}")
    print(f"{what}: {len(expected)} customers equal churn.v1 within {TOLERANCE:g}")


def feature_rows(features: list, count: int) -> list:
    """`count` customers described by hand: seeded numbers, a few categories, some values unknown."""
    rng = random.Random(7)
    rows = []
    for r in range(count):
        row = {}
        for name, kind in features:
            if rng.random() < 0.15:
                row[name] = None
            elif kind == "numeric":
                row[name] = round(rng.uniform(0, 400), 3)
            else:
                row[name] = rng.choice(["basic", "standard", "premium", "north", "email", "no-such-level"])
        if r == 0:
            row = {name: None for name, _ in features}
        rows.append(row)
    return rows


def check_tritonclient(addr: str, v1: ChurnV1) -> None:
    import tritonclient.grpc as triton
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    client = triton.InferenceServerClient(url=addr)
    check(client.is_server_live(), "is_server_live is false")
    check(client.is_server_ready(), "is_server_ready is false")
    check(client.is_model_ready(MODEL), "is_model_ready is false")
    check(not client.is_model_ready(MODEL, model_version="v999"), "is_model_ready is true for another version")
    metadata = client.get_model_metadata(MODEL)
    check(metadata.name == MODEL, f"metadata names {metadata.name!r}")
    inputs = {t.name: (t.datatype, list(t.shape)) for t in metadata.inputs}
    check(inputs.get("customer_id") == ("BYTES", [-1]), f"metadata inputs: {inputs}")
    outputs = {t.name: (t.datatype, list(t.shape)) for t in metadata.outputs}
    check(outputs.get("churn_probability") == ("FP64", [-1]), f"metadata outputs: {outputs}")
    print(f"metadata: {MODEL}@{metadata.versions[0]}, {len(inputs)} inputs, outputs {sorted(outputs)}")

    ids = v1.known_ids(25)
    expected = v1.scores(ids)
    wanted = [triton.InferRequestedOutput(name) for name in ("churn_probability", "risk_band", "reasons")]

    # tritonclient's own BYTES encoding: raw contents, each element after its 4-byte length.
    customer_id = triton.InferInput("customer_id", [len(ids)], "BYTES")
    customer_id.set_data_from_numpy(np.array(ids, dtype=np.object_))
    result = client.infer(MODEL, [customer_id], outputs=wanted, parameters={"max_reasons": REASONS})
    compare(
        "infer by id (raw BYTES)",
        result.as_numpy("churn_probability"),
        result.as_numpy("risk_band"),
        result.as_numpy("reasons"),
        expected,
    )

    # The same by hand with `bytes_contents`, through tritonclient's generated stubs.
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(addr))
    request = service_pb2.ModelInferRequest(model_name=MODEL, id="by-hand")
    tensor = request.inputs.add(name="customer_id", datatype="BYTES", shape=[len(ids)])
    tensor.contents.bytes_contents.extend(i.encode() for i in ids)
    request.parameters["max_reasons"].int64_param = REASONS
    response = stub.ModelInfer(request, timeout=10)
    check(response.id == "by-hand", f"the answer's id is {response.id!r}")
    by_hand = triton.InferResult(response)
    compare(
        "infer by id (bytes_contents)",
        by_hand.as_numpy("churn_probability"),
        by_hand.as_numpy("risk_band"),
        by_hand.as_numpy("reasons"),
        expected,
    )

    # By features: FP64 for numbers (NaN when unknown), BYTES for categories (empty when unknown).
    features = v1.features()
    rows = feature_rows(features, 12)
    inputs = []
    for name, kind in features:
        column = [row[name] for row in rows]
        if kind == "numeric":
            tensor = triton.InferInput(name, [len(rows)], "FP64")
            tensor.set_data_from_numpy(np.array([math.nan if v is None else v for v in column], dtype=np.float64))
        else:
            tensor = triton.InferInput(name, [len(rows)], "BYTES")
            tensor.set_data_from_numpy(np.array(["" if v is None else v for v in column], dtype=np.object_))
        inputs.append(tensor)
    result = client.infer(MODEL, inputs, outputs=wanted, parameters={"max_reasons": REASONS})
    compare(
        "infer by features",
        result.as_numpy("churn_probability"),
        result.as_numpy("risk_band"),
        result.as_numpy("reasons"),
        [v1.score_features(row) for row in rows],
    )

    # A customer not in the snapshot: NOT_FOUND, as tritonclient reports it.
    unknown = triton.InferInput("customer_id", [1], "BYTES")
    unknown.set_data_from_numpy(np.array(["no-such-customer"], dtype=np.object_))
    try:
        client.infer(MODEL, [unknown])
        fail("an unknown customer was scored")
    except triton.InferenceServerException as error:
        check("NOT_FOUND" in str(error.status()), f"unknown customer: {error.status()} {error.message()}")
        print(f"unknown customer: {error.status()}: {error.message()}")


def check_kserve(addr: str, v1: ChurnV1) -> None:
    import asyncio

    from kserve import InferenceGRPCClient, InferInput, InferRequest

    async def run() -> None:
        client = InferenceGRPCClient(url=addr, timeout=10)
        check(await client.is_server_live(), "is_server_live is false")
        check(await client.is_server_ready(), "is_server_ready is false")
        check(await client.is_model_ready(MODEL), "is_model_ready is false")
        ids = v1.known_ids(10)
        tensor = InferInput("customer_id", [len(ids)], "BYTES")
        tensor.set_data_from_numpy(np.array(ids, dtype=np.object_))
        request = InferRequest(MODEL, [tensor], parameters={"max_reasons": REASONS})
        response = await client.infer(request)
        by_name = {output.name: output for output in response.outputs}
        compare(
            "kserve infer by id",
            by_name["churn_probability"].as_numpy(),
            by_name["risk_band"].as_numpy(),
            by_name["reasons"].as_numpy(),
            v1.scores(ids),
        )
        await client.close()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addr", required=True, help="host:port of churn-server")
    parser.add_argument("--proto-dir", required=True, type=Path, help="the repository's proto/ folder")
    parser.add_argument("--client", choices=["tritonclient", "kserve"], required=True)
    args = parser.parse_args()
    v1 = ChurnV1(args.addr, args.proto_dir.resolve())
    if args.client == "tritonclient":
        check_tritonclient(args.addr, v1)
    else:
        check_kserve(args.addr, v1)
    print(f"tritonclient_check.py: all {args.client} checks passed")


if __name__ == "__main__":
    main()

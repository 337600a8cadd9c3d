"""The workflow config: every field the seed API defines plus what a real deployment needs, validated.

Checks here need only the config itself (types, ranges, names, symbol syntax). Checks that need the
matrix (is ``fundingRate`` available on the selected markets?) live in :mod:`raycollect.selection`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from raycollect import defaults
from raycollect.archive import MARKET_PATHS, is_valid_symbol, normalize_interval, normalize_market
from raycollect.downloaders import DEFAULT_ENGINE
from raycollect.errors import ConfigurationError

REQUIRED = ("workflow_type", "matrix_path", "output_directory", "markets", "symbols", "data_types")
PartitionPolicy = Literal["auto", "daily", "monthly", "both"]
SilverCompression = Literal["zstd", "lz4", "snappy"]
SYMBOL_PATTERN_RE = re.compile(r"[A-Z0-9_*]{1,48}")
SYMBOL_HINT = "expected upper-case letters and digits with an optional _SUFFIX, e.g. BTCUSDT, BTCUSD_PERP"
#: s5cmd global options that cannot change the source, the credentials or the outcome of a transfer
#: (value: the allowed values, or None for a flag). Everything else (--endpoint-url, --profile,
#: --credentials-file, --no-sign-request, --dry-run, --retry-count, --no-verify-ssl, ...) is refused.
S5CMD_ALLOWED: dict[str, frozenset[str] | None] = {
    "--log": frozenset({"trace", "debug", "info", "error"}),
    "--stat": None,
    "--use-list-objects-v1": None,
    "--addressing-style": frozenset({"path", "virtual"}),
}


_RELATIVE_DAYS = re.compile(r"-(\d{1,5})d")


def resolve_date(value: Any, today: dt.date | None = None) -> Any:
    """``latest``/``yesterday`` (the newest day that can be published: yesterday, UTC) and ``-Nd`` (N days
    before today, UTC) as dates; anything else is left to the date parser."""
    if not isinstance(value, str):
        return value
    today = today or dt.datetime.now(dt.timezone.utc).date()
    text = value.strip().lower()
    if text in ("latest", "yesterday"):
        return today - dt.timedelta(days=1)
    if text == "today":
        return today
    m = _RELATIVE_DAYS.fullmatch(text)
    if m:
        return today - dt.timedelta(days=int(m.group(1)))
    return value


class DateRange(BaseModel):
    """Inclusive range of days; monthly files are chosen for the months it touches (see partition_policy).

    Each bound is a date (``YYYY-MM-DD``), ``latest`` (yesterday, UTC: the newest day that can be published)
    or ``-Nd`` (N days before today, UTC), resolved when the config is loaded.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: dt.date
    end: dt.date

    @field_validator("start", "end", mode="before")
    @classmethod
    def _relative(cls, value: Any) -> Any:
        return resolve_date(value)

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


def _yesterday() -> DateRange:
    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    return DateRange(start=day, end=day)


class WorkflowConfig(BaseModel):
    """What to collect, from where, to where, and how hard to push. Build from a dict or a file."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # --- what to collect (the seed's required fields) ---
    workflow_type: Literal["archive_collection"] = Field(description="Always 'archive_collection'.")
    matrix_path: str = Field(description="Availability matrix JSON (relative: to the CWD, then the config file).")
    output_directory: str = Field(description="Where files land, mirroring their archive keys below it.")
    markets: list[str] = Field(description="spot, futures_um, futures_cm, options (um_futures/cm_futures too).")
    symbols: list[str] | dict[str, list[str]] = Field(description="One list for all markets, or one per market.")
    data_types: list[str] | dict[str, list[str]] = Field(
        description="Archive type names (klines, aggTrades, fundingRate, ...): one list for every market, or one "
        "per market ({'spot': ['klines'], 'futures_um': ['fundingRate', 'aggTrades']}).")
    intervals: dict[str, list[str]] | dict[str, dict[str, list[str]]] | list[str] | None = Field(
        default=None,
        description="Per data type ({'klines': ['1h']}), one list for every kline-like type, or per market and "
        "data type ({'spot': {'klines': ['1m']}, 'futures_um': {'klines': ['1h']}}). Default 1d. '1M' means the "
        "archive's '1mo'.",
    )
    date_range: DateRange = Field(default_factory=_yesterday, description="Inclusive; default: yesterday (UTC).")
    discover: StrictBool = Field(
        default=False,
        description="List the archive and plan only files that exist (always on when a symbol is a pattern).")
    quote_assets: list[str] | None = Field(
        default=None, description="With symbol patterns: keep symbols ending in one of these, e.g. ['USDT'].")
    alive_on: dt.date | None = Field(
        default=None,
        description="With symbol patterns: keep only symbols the archive has files for on or before and on or after "
        "this day (alive then, delisted ones included), e.g. '2021-06-01' for a backtest free of survivorship bias.")
    partition_policy: PartitionPolicy = Field(
        default="auto",
        description="auto: monthly files for complete past months, daily for the rest; daily; monthly; both.",
    )

    # --- where from ---
    bucket: str = Field(default=defaults.BUCKET, description="Source bucket.")
    endpoint_url: str | None = Field(default=None, description="S3 endpoint; none = AWS (anonymous).")
    region: str = Field(default=defaults.REGION, description="Region of the source bucket.")

    # --- where to (besides output_directory) ---
    destination_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint of an s3:// output_directory; none = AWS.")
    destination_region: str | None = Field(default=None, description="Region of the destination bucket.")
    destination_credentials: Literal["default", "anonymous"] = Field(
        default="default",
        description="default: the AWS credential chain (env, ~/.aws, instance profile); anonymous: unsigned.")

    # --- how ---
    # curl by default: the one engine faster than raw `s5cmd cp` here while verifying every file
    # (docs/performance.md); s5cmd, boto3 and http stay for comparison and for environments without libcurl wheels.
    downloader: Literal["curl", "s5cmd", "boto3", "http"] = Field(
        default=DEFAULT_ENGINE, description="Per-actor download engine: curl (libcurl multi), s5cmd, boto3, or http.")
    batch_size: StrictInt = Field(default=100, ge=1, le=100_000, description="Files per shard handed to an actor.")
    max_parallel_downloads: StrictInt = Field(
        default=8, ge=1, le=4096,
        description="Upper bound on downloader actors; fewer start when the cluster has fewer CPU slots.")
    num_actors: StrictInt | None = Field(default=None, ge=1, le=4096, description="Exact actor count (overrides).")
    max_actors: StrictInt = Field(
        default=256, ge=1, le=4096,
        description="On a cluster (actor_resources set): cap on downloader actors. Actors are created for the work "
        "(shards to fetch), up to this cap, whether or not their nodes exist yet, so the autoscaler sees them as "
        "demand. Default 256: cluster.yaml at its largest (16 downloader nodes x 16 slots).")
    workers_per_actor: StrictInt | None = Field(
        default=None, ge=1, le=512,
        description="Concurrent transfers per actor. Default: 64 for curl (one event loop drives them on a fraction "
        "of a core; measured 1.34x raw s5cmd against 1.14x with 32), 32 for the others.")
    keep_actors_seconds: StrictInt = Field(
        default=30, ge=0, le=3600,
        description="On a Ray that was up before the run (the Python API, a notebook), on one machine: how long "
        "the run's downloader actors are kept for this driver's next run, which then skips their start (0.3-0.8 s "
        "here). 0: killed when the run ends. Never on a cluster (actor_resources) nor before a conversion.")
    actor_resources: dict[str, StrictInt] = Field(
        default_factory=dict,
        description="Custom Ray resources each actor requests, e.g. {'downloader': 1}: actors then run only on "
        "nodes that offer it, and their count follows the cluster's total of it.")
    enable_batch_mode: StrictBool = Field(default=defaults.ENABLE_BATCH_MODE,
                                          description="s5cmd: one `s5cmd run` per shard.")
    enable_resume: StrictBool = Field(default=True, description="Skip files already collected and verified.")
    download_checksum: StrictBool = Field(default=True, description="Fetch .CHECKSUM and verify SHA-256.")
    timeout_seconds: StrictInt = Field(
        default=defaults.TIMEOUT_SECONDS, ge=1, le=86_400,
        description="One attempt of one file (s5cmd: no file completed for this long); then it is retried.")
    force_redownload: StrictBool = Field(default=False, description="Fetch everything again.")
    reverify: StrictBool = Field(default=False, description="Compare collected files with the archive's current "
                           ".CHECKSUM and re-fetch those that changed.")
    s5cmd_extra_args: list[str] = Field(
        default_factory=list, description="Extra s5cmd global options from an allow-list (S5CMD_ALLOWED).")
    part_size_mb: StrictInt = Field(default=defaults.PART_SIZE_MB, ge=5, le=5120,
                                    description="Multipart chunk size for large files.")

    # --- the silver zone (raycollect.silver) ---
    convert: StrictBool = Field(
        default=False, description="After collecting, convert the selection's verified zips to typed Parquet "
        "(as `raycollect convert` does).")
    silver_directory: str | None = Field(
        default=None, description="Where typed Parquet lands (a directory). Default: <output_directory>/silver.")
    silver_compression: SilverCompression = Field(
        default="zstd", description="The Parquet codec of silver files: zstd (the smallest), lz4 (about 0.15 CPU-s "
        "less per 4 M trades rows, 10-40% larger) or snappy. Applies to files converted from then on (--force "
        "rewrites all).")
    silver_catalog: dict[str, Any] = Field(
        default_factory=dict,
        description="The Iceberg catalog of the silver tables, as pyiceberg properties ({'type': 'rest', 'uri': ...}, "
        "{'type': 'glue'}, {'type': 'sql', 'uri': 'postgresql+psycopg2://...'}; s3.* keys reach the warehouse). "
        "Default: a SQLite catalog beside a local warehouse (<silver_directory>/catalog.db), or in the manifest "
        "directory when the warehouse is on s3://.")
    silver_namespace: str = Field(
        default="binance", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="The catalog namespace of the silver tables (one table per market and data type).")
    silver_target_file_mb: StrictInt = Field(
        default=128, ge=1, le=4096,
        description="Compaction writes data files of about this many MB of Parquet (Iceberg's default is 512; "
        "128 keeps a month of one symbol's trades in a few files that readers prune by their time bounds).")
    silver_compact_min_files: StrictInt = Field(
        default=8, ge=2, le=100_000,
        description="A partition (symbol, month) is compacted once it holds this many small files: after a "
        "conversion when needed, or with `raycollect silver compact`.")

    # --- bookkeeping ---
    manifest_directory: str | None = Field(
        default=None, description="A directory or s3://bucket/prefix (written with the destination's endpoint and "
        "credentials). Default: <output_directory>/_manifests.")
    environment: str = Field(default="development", description="Free-form label stored in run records.")
    enable_monitoring: StrictBool = Field(
        default=False, description="Deprecated, does nothing (kept from the seed API): metrics events go to the "
        "metrics_collector passed to ArchiveCollectionWorkflow, whatever this says.")
    local_data_dir: str | None = Field(default=None, description="Scratch space for downloads (default: target dir).")
    logging: dict[str, Any] = Field(default_factory=lambda: {"level": "INFO"},
                                    description="{'level': 'INFO'}: raycollect's log level (DEBUG, INFO, WARNING)")

    def __init__(self, data: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        values = {**(data or {}), **kwargs}
        _check_keys(values)
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from None

    # --- normalisation of names (aliases, 1M) and strict symbol syntax ---
    @field_validator("markets")
    @classmethod
    def _markets(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one market is required")
        out: list[str] = []
        for name in value:
            norm = normalize_market(name)
            if norm is None:  # the seed's message, then the fix: the closest name and every valid one
                names = list(MARKET_PATHS)
                close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise PydanticCustomError("bad_market", "'{name}' is not a valid market type ({hint}valid markets: "
                                          "{valid})", {"name": name, "hint": hint, "valid": ", ".join(names)})
            if norm not in out:
                out.append(norm)
        return out

    @field_validator("data_types")
    @classmethod
    def _data_types(cls, value: list[str] | dict[str, list[str]]) -> list[str] | dict[str, list[str]]:
        if not value:
            raise ValueError("at least one data type is required")
        if isinstance(value, dict):
            out: dict[str, list[str]] = {}
            for market, types in value.items():
                norm = normalize_market(market)
                if norm is None:
                    raise _bad_market_key(market, "data_types")
                if not types:
                    raise ValueError(f"data_types[{market}] is empty")
                out[norm] = list(dict.fromkeys(types))
            return out
        return list(dict.fromkeys(value))

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str] | dict[str, list[str]]) -> list[str] | dict[str, list[str]]:
        if isinstance(value, dict):
            out: dict[str, list[str]] = {}
            for market, symbols in value.items():
                norm = normalize_market(market)
                if norm is None:
                    raise ValueError(f"'{market}' is not a valid market type")
                out[norm] = _check_symbols(symbols, f"[{market}]")
            return out
        return _check_symbols(value, "")

    @field_validator("intervals")
    @classmethod
    def _intervals(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return _check_intervals(value, "")
        if value and all(isinstance(v, dict) for v in value.values()):  # per market, then per data type
            out: dict[str, dict[str, list[str]]] = {}
            for market, per_type in value.items():
                norm = normalize_market(market)
                if norm is None:
                    raise _bad_market_key(market, "intervals")
                out[norm] = {dtype: _check_intervals(items, f"[{market}][{dtype}]") for dtype, items in
                             per_type.items()}
            return out
        return {dtype: _check_intervals(items, f"[{dtype}]") for dtype, items in value.items()}

    @field_validator("actor_resources")
    @classmethod
    def _resources(cls, value: dict[str, int]) -> dict[str, int]:
        for name, amount in value.items():
            if name in ("CPU", "GPU", "memory") or amount < 1:
                raise ValueError(f"{name}: {amount} is not a custom resource request (a name and a count >= 1)")
        return value

    @field_validator("logging")
    @classmethod
    def _log_level(cls, value: dict[str, Any]) -> dict[str, Any]:
        level = str(value.get("level", "INFO")).upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"logging.level {value.get('level')!r} is not a level: DEBUG, INFO, WARNING, ERROR or "
                             "CRITICAL")
        return {**value, "level": level}

    @field_validator("quote_assets")
    @classmethod
    def _quotes(cls, value: list[str] | None) -> list[str] | None:
        for q in value or []:
            if not re.fullmatch(r"[A-Z0-9]{1,16}", q):
                raise ValueError(f"{q!r} is not a quote asset (upper-case letters and digits, e.g. USDT)")
        return value

    @field_validator("s5cmd_extra_args")
    @classmethod
    def _extra_args(cls, value: list[str]) -> list[str]:
        allowed = ", ".join(f"{k}={'|'.join(sorted(v))}" if v else k for k, v in S5CMD_ALLOWED.items())
        for arg in value:
            name, eq, val = arg.partition("=")
            choices = S5CMD_ALLOWED.get(name, ())
            ok = choices == () or (choices is None and not eq) or (choices and eq and val in choices)
            if choices == () or not ok:
                raise PydanticCustomError(
                    "s5cmd_arg", "{arg} is not allowed (only options that cannot change the source, the credentials "
                    "or the outcome); allowed: {allowed}", {"arg": repr(arg), "allowed": allowed})
        return value

    @model_validator(mode="after")
    def _symbols_match_markets(self) -> WorkflowConfig:
        if isinstance(self.symbols, dict):
            missing = [m for m in self.markets if not self.symbols.get(m)]
            if missing:
                raise PydanticCustomError("bad_symbols", "no symbols given for market(s) {missing}",
                                          {"missing": str(missing)})
        if isinstance(self.data_types, dict):
            missing = [m for m in self.markets if not self.data_types.get(m)]
            extra = [m for m in self.data_types if m not in self.markets]
            if missing:
                raise ValueError(f"no data_types given for market(s) {missing}: add them to data_types, or use one "
                                 "list for every market")
            if extra:
                raise ValueError(f"data_types given for market(s) {extra} that are not in markets {self.markets}")
        if self.alive_on is not None and not self.has_symbol_patterns:
            raise ValueError(f"alive_on ({self.alive_on}) limits symbol patterns such as '*USDT' to the symbols alive "
                             "that day; no symbol is a pattern: add one, or remove alive_on")
        return self

    # --- the seed's accessors ---
    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default) if key in type(self).model_fields else default

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def data_types_for(self, market: str) -> list[str]:
        """The data types asked of ``market`` (the one list, or its own)."""
        if isinstance(self.data_types, dict):
            return list(self.data_types.get(market, []))
        return list(self.data_types)

    @property
    def all_data_types(self) -> list[str]:
        """Every data type the config names, in order, once."""
        if isinstance(self.data_types, dict):
            return list(dict.fromkeys(t for m in self.markets for t in self.data_types.get(m, [])))
        return list(self.data_types)

    @property
    def intervals_per_market(self) -> bool:
        """Whether ``intervals`` is given per market and data type (``{"spot": {"klines": [...]}}``)."""
        raw = self.intervals
        return isinstance(raw, dict) and bool(raw) and all(isinstance(v, dict) for v in raw.values())

    def intervals_for(self, market: str) -> dict[str, list[str]] | list[str] | None:
        """The intervals asked of ``market``: per data type, one list, or None (the default)."""
        if self.intervals_per_market:
            return self.intervals.get(market)  # type: ignore[union-attr,return-value]
        return self.intervals  # type: ignore[return-value]

    def symbols_for(self, market: str) -> list[str]:
        return list(self.symbols.get(market, [])) if isinstance(self.symbols, dict) else list(self.symbols)

    @property
    def has_symbol_patterns(self) -> bool:
        """Whether a symbol is a pattern (``*USDT``), resolved against a listing (or, to convert, the manifests)."""
        return any("*" in s for m in self.markets for s in self.symbols_for(m))

    @property
    def uses_discovery(self) -> bool:
        """Discovery is on when asked for, and whenever a symbol is a pattern."""
        return self.discover or self.has_symbol_patterns

    @property
    def transfers_per_actor(self) -> int:
        """``workers_per_actor``, or the engine's default when the config names none."""
        return self.workers_per_actor or defaults.transfers(self.downloader)

    @property
    def manifest_dir(self) -> str:
        """Absolute (or an s3:// URI), so every path a run prints can be used from anywhere."""
        if self.manifest_directory and self.manifest_directory.startswith("s3://"):
            return self.manifest_directory.rstrip("/")
        if not self.manifest_directory and self.output_directory.startswith("s3://"):
            return self.output_directory.rstrip("/") + "/_manifests"
        return str(Path(self.manifest_directory or Path(self.output_directory) / "_manifests").expanduser()
                   .resolve())

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> WorkflowConfig:
        """Load a JSON or YAML config; a relative matrix_path that is not found from the CWD is looked
        up next to the config file."""
        data = read_config_file(path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        matrix = data.get("matrix_path")
        if isinstance(matrix, str) and not Path(matrix).is_absolute() and not Path(matrix).exists():
            beside = Path(path).parent / matrix
            if beside.exists():
                data["matrix_path"] = str(beside)
        return cls(data)


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        raise ConfigurationError(f"Configuration file {path} is a directory: pass the config file inside it")
    if not p.is_file():
        raise ConfigurationError(f"Configuration file not found: {path}")
    try:
        text = p.read_text(encoding="utf-8")
    except PermissionError:
        raise ConfigurationError(f"Configuration file {path} cannot be read (permission denied): check its "
                                 "permissions, or run as a user who can read it") from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"Configuration file {path} is not UTF-8 text (byte {exc.start}): save it as "
                                 "UTF-8 JSON or YAML") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
            raise ConfigurationError(f"Configuration file {path} is not valid YAML{where}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            # json's own message may end in "at" ("Unterminated string starting at"): the position follows once.
            what = exc.msg.removesuffix(" at").removesuffix(" starting")
            hint = ""
            if _looks_like_yaml(text):
                hint = f"; it looks like YAML: rename it to {p.with_suffix('.yaml').name}"
            raise ConfigurationError(
                f"Configuration file {path} is not valid JSON: {what} at line {exc.lineno} column {exc.colno}{hint}"
            ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"Configuration file {path} must hold an object (key: value pairs)")
    return data


def _looks_like_yaml(text: str) -> bool:
    """A text that YAML reads as a mapping (``key: value`` lines) and that does not start like JSON."""
    if text.lstrip().startswith(("{", "[")):
        return False
    import yaml

    try:
        return isinstance(yaml.safe_load(text), dict)
    except yaml.YAMLError:
        return False


#: Fields of the seed's API that do nothing here: accepted, with a warning that says so.
DEPRECATED = {"enable_monitoring": "metrics events go to the metrics_collector passed to ArchiveCollectionWorkflow; "
                                   "remove enable_monitoring from the config"}


def _check_keys(values: dict[str, Any]) -> None:
    for key, why in DEPRECATED.items():
        if values.get(key):  # set (to anything but its default, false): the user expects something of it
            warnings.warn(f"config: {key} is deprecated and does nothing: {why}", FutureWarning, stacklevel=4)
    fields = list(WorkflowConfig.model_fields)
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(fields)}"
            raise ConfigurationError(f"Unknown configuration key '{key}'{hint}")
    missing = [k for k in REQUIRED if values.get(k) in (None, "", [], {})]
    if missing:
        raise ConfigurationError(f"Missing required configuration: {missing}")


def _bad_market_key(market: str, field: str) -> PydanticCustomError:
    return PydanticCustomError("bad_market", "'{market}' (a key of {field}) is not a valid market type (valid markets: "
                               "{valid})", {"market": market, "field": field, "valid": ", ".join(MARKET_PATHS)})


def _check_symbols(symbols: list[str], where: str) -> list[str]:
    if not symbols:
        raise PydanticCustomError("bad_symbols", "symbols{where} is empty", {"where": where})
    for sym in symbols:
        if not is_valid_symbol(sym):
            if SYMBOL_PATTERN_RE.fullmatch(sym) and "*" in sym:
                continue  # a pattern, resolved against the bucket listing (discovery)
            raise PydanticCustomError("bad_symbols", "symbols{where}: {symbol} is not a valid symbol; {hint} (or a "
                                      "pattern such as *USDT)",
                                      {"where": where, "symbol": repr(sym), "hint": SYMBOL_HINT})
    return list(dict.fromkeys(symbols))


def _check_intervals(items: list[str], where: str) -> list[str]:
    out: list[str] = []
    for item in items:
        norm = normalize_interval(item)
        if norm is None:
            raise ValueError(f"unknown interval {item!r} in intervals{where}; valid: 1s 1m 3m 5m 15m 30m 1h 2h "
                             "4h 6h 8h 12h 1d 3d 1w 1M (1mo)")
        out.append(norm)
    if not out:
        raise ValueError(f"intervals{where} is empty")
    return list(dict.fromkeys(out))


def _describe(exc: ValidationError) -> str:
    """One line per problem, naming the field, in the seed's wording where the seed had one."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
    msg = str(err["msg"]).removeprefix("Value error, ")
    custom = {"bad_market": "Invalid markets in configuration: {}",
              "bad_symbols": "Invalid symbols in configuration: {}",
              "s5cmd_arg": "Invalid configuration: s5cmd_extra_args: {}"}
    if err["type"] in custom:  # raised by this module's validators (PydanticCustomError), in the seed's wording
        return custom[err["type"]].format(msg)
    got = err.get("input")
    if err["type"] in ("int_type", "bool_type", "int_from_float"):
        want = "a JSON number (no quotes)" if err["type"] != "bool_type" else "a JSON boolean (true or false)"
        if err["type"] != "bool_type" and isinstance(got, float):
            want = "a whole JSON number"
        shown = f"the string {got!r}" if isinstance(got, str) else repr(got)
        return f"Invalid configuration: {loc} must be {want}, got {shown}"
    if err["type"] == "literal_error" and loc == "workflow_type":
        return f"Invalid workflow_type {err['input']!r}: expected 'archive_collection'"
    if loc.startswith("date_range"):
        return (f"Invalid date_range: {msg} (expected {{'start': 'YYYY-MM-DD', 'end': 'YYYY-MM-DD'}}; "
                "'latest' and '-30d' are understood too)")
    shown = "" if isinstance(got, dict) or loc == "" else f" (got {got!r})"
    return f"Invalid configuration: {loc or 'config'}: {msg}{shown}"


__all__ = ["MARKET_PATHS", "DateRange", "WorkflowConfig", "read_config_file"]

"""Settings, read once from the environment and `.env` (see `.env.example`).

The names the original service used (`HF_MODEL`, `HF_API_TOKEN`, `MAX_FILE_SIZE_MB`,
`UPLOAD_DIR`) keep their meaning, and unknown keys are ignored, so an old `.env`
starts this server unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The image formats the server knows how to check, with the file name
# extensions each may arrive under. `ALLOWED_TYPES` picks among them.
KNOWN_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "image/png": (".png",),
    "image/webp": (".webp",),
}

MB = 1024 * 1024

# What a photo with no car in it may show instead (zero-shot backend).
NEGATIVE_PROMPTS: tuple[str, ...] = (
    "a photo of a cat",
    "a photo of a dog",
    "a photo of an animal",
    "a photo of a person",
    "a photo of a face",
    "a photo of a building",
    "a photo of a room",
    "a photo of food",
    "a photo of a plant",
    "a photo of a landscape",
    "a photo of a street with no car",
    "a photo of a document with text",
    "a screenshot",
    "a photo of an object",
)
# Shorter keys can be guessed; token_urlsafe(32) gives 43 characters.
MIN_KEY_LENGTH = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",  # an old `.env` may hold keys such as METADATA_FILE
        case_sensitive=False,
        env_ignore_empty=True,  # `KEY=` in .env means "use the default"
        hide_input_in_errors=True,  # a start-up error must not print a key or token
    )

    # --- kept from the original service ---
    hf_model: str = "therealcyberlord/stanford-car-vit-patch16"
    hf_api_token: str | None = Field(default=None, repr=False)
    max_file_size_mb: float = Field(default=10, gt=0)
    upload_dir: Path = Path("uploads")

    # --- storage ---
    database_url: str | None = None  # default: a SQLite file inside UPLOAD_DIR
    db_pool_size: int = Field(default=5, ge=1)
    # SQLite: how long a statement waits for another process's write lock
    # before the request fails with 503. (This server's own writers queue.)
    db_busy_timeout_seconds: float = Field(default=5, gt=0, le=600)

    # --- uploads ---
    allowed_types: Annotated[tuple[str, ...], NoDecode] = ("image/jpeg", "image/png")
    max_files_per_request: int = Field(default=20, ge=1)
    max_image_pixels: int = Field(default=64_000_000, ge=1)
    # How many times an image's long side may be its short side (20: 20:1).
    # Image processors resize the short side up to the model's input, so a
    # 1 x 2000 strip became a 224 x 448,000 array (1.2 GB): uploads over it are
    # refused, and what recognition reads is cut to its central part within it
    # (storage/aspect.py). What a recognition may cost grows with it.
    max_aspect_ratio: float = Field(default=20, ge=1)
    max_filename_length: int = Field(default=200, ge=16)
    thumbnail_size: int = Field(default=256, ge=16, le=2048)
    # Decoded pixels held at once by all decodes together (uploads, thumbnails,
    # recognition); see storage/decode_pool.py.
    decode_memory_mb: int = Field(default=512, ge=16)
    # Freed pixel memory kept for the next decode instead of going back to the
    # system: a 12 MP decode into fresh memory spends ~30 ms in page faults.
    decode_cache_mb: int = Field(default=96, ge=0)
    # A stored image with no database row is removed once it is older than this:
    # younger ones may belong to an upload still in flight elsewhere. At a
    # start-up with the local folder and no other live process on it, at once.
    orphan_grace_seconds: float = Field(default=60, ge=0)
    # How often each server looks for such leftovers (also once at start-up).
    orphan_sweep_seconds: float = Field(default=300, gt=0)

    # --- object storage ---
    # Unset: images in UPLOAD_DIR. s3://BUCKET/PREFIX: an S3-compatible bucket.
    storage_url: str | None = None
    s3_endpoint_url: str | None = None  # MinIO, SeaweedFS, Ceph, R2; unset: AWS
    aws_access_key_id: str | None = Field(default=None, repr=False)
    aws_secret_access_key: str | None = Field(default=None, repr=False)
    aws_region: str = "us-east-1"
    s3_timeout_seconds: float = Field(default=30, gt=0)

    # --- recognition ---
    recognizer: Literal["local", "huggingface", "zero-shot"] = "local"
    top_k: int = Field(default=5, ge=1, le=50)
    preload_model: bool = False  # load the local model at start-up, not on first use
    infer_batch_size: int = Field(default=8, ge=1, le=256)
    infer_batch_wait_ms: float = Field(default=50, ge=0, le=1000)
    infer_concurrency: int = Field(default=4, ge=1, le=64)  # files of one batch in flight
    torch_threads: int | None = Field(default=None, ge=1)  # default: every core
    runtime: Literal["auto", "torch", "onnxruntime"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    model_cache_dir: Path | None = None  # exported models; default UPLOAD_DIR/models
    hf_endpoint_url: str | None = None  # a dedicated Inference Endpoint, instead of the API
    hf_api_base: str = "https://router.huggingface.co"
    hf_timeout_seconds: float = Field(default=30, gt=0)
    hf_max_attempts: int = Field(default=5, ge=1, le=20)
    hf_retry_budget_seconds: float = Field(default=120, gt=0)
    hf_backoff_seconds: float = Field(default=1, ge=0)
    hf_max_concurrency: int = Field(default=4, ge=1, le=256)
    # A transformers object-detection model (Hub id or folder) that finds the
    # vehicles of a photo, each then classified on its own. Unset: off.
    detector: str | None = None
    detector_threshold: float = Field(default=0.5, ge=0, lt=1)
    detector_max_vehicles: int = Field(default=10, ge=1, le=100)

    # --- zero-shot recognition and verdicts ---
    # Any transformers zero-shot image classification model (CLIP, SigLIP, ...).
    zero_shot_model: str = "google/siglip-base-patch16-224"
    # How a catalog entry is put to the text encoder; fields: {label} {make}
    # {model} {body_type} {years}.
    zero_shot_prompt: str = "a photo of a {label}, a type of car."
    # Prompts that compete with the catalog: the photo shows no car when one of
    # them matches better than every catalog entry. Separated by "|".
    zero_shot_negatives: Annotated[tuple[str, ...], NoDecode] = NEGATIVE_PROMPTS
    # The best car name must beat the best negative prompt by at least this
    # probability (of the two) for the verdict to be "car" rather than "unsure".
    zero_shot_unsure_below: float = Field(default=0.8, ge=0.5, le=1)
    # Classifier backends: a top-1 confidence below this gives the verdict "unsure".
    unsure_below: float = Field(default=0.2, ge=0, le=1)
    # Classifier backends: a real ImageNet model that says "not a car" when the
    # probability it gives all vehicle classes together is under the threshold.
    vehicle_gate: Literal["off", "efficientnet"] = "off"
    vehicle_gate_threshold: float = Field(default=0.1, ge=0, le=1)

    # --- jobs (see jobs/ and worker.py) ---
    # Where recognition jobs wait: `inprocess` (this process runs them, nothing
    # else needed) or `postgres` (a durable queue in DATABASE_URL's PostgreSQL,
    # shared by every API replica and `python worker.py`).
    job_queue: Literal["inprocess", "postgres"] = "inprocess"
    # JOB_QUEUE=postgres: whether this API process takes jobs itself too.
    run_worker: bool = True
    # Jobs one worker process runs at once (the local model batches them).
    worker_concurrency: int = Field(default=8, ge=2, le=256)
    # A job whose worker sent no heartbeat for this long (it died) is given to
    # another worker.
    job_heartbeat_seconds: float = Field(default=30, ge=1, le=3600)
    # How long inferFile(s) and POST /inference wait for queued jobs before
    # answering with the files still queued.
    job_wait_seconds: float = Field(default=60, ge=0, le=3600)
    # Recognize every upload, as if each asked with recognize=true.
    auto_recognize: bool = False

    # --- statistics and report ---
    low_confidence_threshold: float = Field(default=0.5, ge=0, le=1)
    report_page_size: int = Field(default=50, ge=1, le=500)

    # --- GraphQL and HTTP ---
    # Where clients reach this server (https://cars.example.com): GraphQL's
    # imageUrl and thumbnailUrl are then absolute URLs, not paths.
    public_base_url: str | None = None
    max_json_body_kb: int = Field(default=1024, ge=1)
    max_batch_ids: int = Field(default=100, ge=1)
    log_level: str = "info"
    # Read deadlines (see http_protocol.py and middleware/timeouts.py): for a
    # request's whole header block, and for each wait for more of its body.
    header_timeout_seconds: float = Field(default=10, gt=0, le=3600)
    body_timeout_seconds: float = Field(default=30, gt=0, le=3600)
    graphql_max_depth: int = Field(default=12, ge=2)
    graphql_max_aliases: int = Field(default=30, ge=1)
    graphql_max_tokens: int = Field(default=5000, ge=100)
    # What a document may cost once its fragments are expanded (schema/limits.py).
    graphql_max_selections: int = Field(default=1000, ge=10)
    graphql_max_fragment_spreads: int = Field(default=64, ge=0)
    graphql_max_repeated_fields: int = Field(default=30, ge=0)
    graphql_max_variables: int = Field(default=50, ge=1)
    graphql_max_document_kb: int = Field(default=16, ge=1)
    # Subscriptions (and other operations) one websocket may have running at once.
    graphql_max_subscriptions: int = Field(default=20, ge=1, le=1000)
    # Unset: on in development, off in production.
    graphql_introspection: bool | None = None
    graphiql: bool | None = None
    graphql_field_suggestions: bool | None = None

    # --- access ---
    env: Literal["development", "production"] = "development"
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(default=(), repr=False)
    read_api_keys: Annotated[tuple[str, ...], NoDecode] = Field(default=(), repr=False)
    # Serve without keys on a non-loopback address anyway.
    allow_open: bool = False
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Host names the server answers to besides localhost and IP addresses
    # (middleware/origins.py); "*" for any.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator(
        "allowed_types", "api_keys", "read_api_keys", "cors_origins", "allowed_hosts", mode="before"
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("zero_shot_negatives", mode="before")
    @classmethod
    def _split_prompts(cls, value: object) -> object:
        # Prompts may hold commas, so they are separated by "|".
        if isinstance(value, str):
            value = [part.strip() for part in value.split("|") if part.strip()]
        return value

    @field_validator("zero_shot_prompt")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        from recognition.prompts import check_template

        return check_template(value)

    @field_validator("api_keys", "read_api_keys")
    @classmethod
    def _strong_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        weak = [key for key in value if len(key) < MIN_KEY_LENGTH]
        if weak:
            # Never echo a key back: logs keep what a start-up error prints.
            raise ValueError(
                f"{len(weak)} API key(s) are shorter than {MIN_KEY_LENGTH} characters; make keys"
                " with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise ValueError(
                    "CORS_ORIGINS takes exact origins such as https://app.example.com;"
                    f" got {origin!r} (no wildcard: only the origins named are answered)"
                )
        return tuple(origin.rstrip("/") for origin in value)

    @field_validator("allowed_hosts")
    @classmethod
    def _bare_host_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            if host != "*" and any(c in host for c in "/:*@ "):
                raise ValueError(
                    "ALLOWED_HOSTS takes host names such as cars.example.com (any port), or *;"
                    f" got {host!r}"
                )
        return tuple(host.lower().rstrip(".") for host in value)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(
                "PUBLIC_BASE_URL must be an http(s) URL such as https://cars.example.com;"
                f" got {value!r}"
            )
        return value.rstrip("/")

    @field_validator("allowed_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(t.lower() for t in value)
        unknown = [t for t in value if t not in KNOWN_TYPES]
        if unknown or not value:
            raise ValueError(
                f"ALLOWED_TYPES must be a non-empty list from {', '.join(KNOWN_TYPES)};"
                f" got {', '.join(unknown) or 'nothing'}"
            )
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                f"STORAGE_URL must look like s3://BUCKET or s3://BUCKET/PREFIX; got {value!r}"
                " (leave it unset to keep images in UPLOAD_DIR)"
            )
        return value

    @model_validator(mode="after")
    def _runtime_can_do_precision(self) -> Settings:
        if self.runtime == "onnxruntime" and self.precision == "bf16":
            raise ValueError("PRECISION=bf16 needs RUNTIME=torch: ONNX Runtime runs fp32 or int8")
        return self

    @model_validator(mode="after")
    def _keys_have_one_role(self) -> Settings:
        if set(self.api_keys) & set(self.read_api_keys):
            raise ValueError("a key is in both API_KEYS and READ_API_KEYS; give it one role")
        return self

    @model_validator(mode="after")
    def _queue_needs_postgres(self) -> Settings:
        if self.job_queue == "postgres" and not self.resolved_database_url.startswith("postgresql"):
            raise ValueError(
                "JOB_QUEUE=postgres keeps its jobs in PostgreSQL, but DATABASE_URL is"
                f" {self.resolved_database_url.split(':', 1)[0]!r}; set DATABASE_URL="
                "postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB, or JOB_QUEUE=inprocess"
            )
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    def _on_unless_production(self, setting: bool | None) -> bool:
        return setting if setting is not None else not self.production

    @property
    def introspection_on(self) -> bool:
        return self._on_unless_production(self.graphql_introspection)

    @property
    def graphiql_on(self) -> bool:
        return self._on_unless_production(self.graphiql)

    @property
    def field_suggestions_on(self) -> bool:
        return self._on_unless_production(self.graphql_field_suggestions)

    @property
    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.upload_dir / "models"

    @property
    def max_file_size(self) -> int:
        return int(self.max_file_size_mb * MB)

    @property
    def allowed_extensions(self) -> tuple[str, ...]:
        return tuple(ext for t in self.allowed_types for ext in KNOWN_TYPES[t])

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.upload_dir / 'cars.db'}"

    @property
    def max_upload_body(self) -> int:
        """The largest multipart body accepted: every file at its limit, plus room
        for the multipart framing and the GraphQL `operations` and `map` fields."""
        return self.max_files_per_request * (self.max_file_size + 16 * 1024) + MB

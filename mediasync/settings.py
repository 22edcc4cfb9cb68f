"""Configuration: a TOML file, then MEDIASYNC_* environment variables on top.

Nested settings take a double underscore in the environment, e.g.
MEDIASYNC_SYNCTHING__API_KEY or MEDIASYNC_WORKFLOW__PIXEL_BATCH_SIZE.
Relative paths in the file are relative to the file's own folder.
"""

from __future__ import annotations

import difflib
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mediasync.errors import ConfigError
from mediasync.model import Stage

CONFIG_ENV = "MEDIASYNC_CONFIG"


class Section(BaseModel):
    """A table of the configuration: a key it does not know is a mistake (a typo in
    `guards.max_deletes_per_run` must not leave the default in force), never ignored."""

    model_config = ConfigDict(extra="forbid")


class WorkflowSettings(Section):
    incoming: Path = Path("workflow/incoming")
    pixel_sync: Path = Path("workflow/pixel_sync")
    nas_archive: Path = Path("nas_archive")
    processing: Path = Path("workflow/processing")
    compressed: Path = Path("nas_compressed")
    icloud_delete: Path = Path("workflow/icloud_delete")
    pixel_batch_size: int = Field(5, ge=1)
    sync_timeout_seconds: float = Field(300, gt=0)
    cleanup_after_hours: float = Field(24, ge=0)
    pixel_keep_hours: float = Field(48, ge=0)  # 0: never remove from the Pixel folder
    archive_layout: str = "{YYYY}/{MM}/{DD}/{name}"
    prefix_final_names: bool = False  # step prefixes in the archive and Pixel folder too


class SourceSettings(Section):
    kind: Literal["folder", "icloud", "bucket", "sftp"] = "folder"
    path: Path | None = None  # folder source
    include_hidden: bool = False  # folder source: import dot-folders too
    delete: bool = False  # remove source originals in step 7 (under every safety gate)
    parallel_downloads: int = Field(4, ge=1, le=32)  # folder and iCloud sources


class DeleteGuards(Section):
    keep_recent_days: int = Field(30, ge=0)
    skip_favorites: bool = True
    max_deletes_per_run: int = Field(200, ge=0)
    delete_interval_seconds: float = Field(0.5, ge=0)
    # Circuit breaker: refuse all deletes when the source lists this share fewer assets
    # than the last run saw.
    max_source_shrink: float = Field(0.2, ge=0, le=1)


class LedgerSettings(Section):
    # sqlite:///PATH, postgresql://... or supabase (SUPABASE_URL and
    # SUPABASE_SERVICE_ROLE_KEY from the environment); see docs/ledger.md
    url: str = "sqlite:///mediasync.db"
    timeout_seconds: float = Field(10, gt=0)  # connecting to / one request of a server
    # how long a step's claim on a file lasts if its run dies without releasing it; one
    # worker alone may set 0 so that any rerun takes the files back at once
    claim_lease_seconds: float = Field(3600, ge=0)


class SyncthingSettings(Section):
    enabled: bool = False
    api_url: str = "http://127.0.0.1:8384"
    api_key: SecretStr | None = None
    folder_id: str | None = None
    device_id: str | None = None
    timeout_seconds: float = Field(10, gt=0)  # one REST call
    # one long-poll for events while waiting for the device; the wait as a whole is
    # workflow.sync_timeout_seconds
    event_poll_seconds: float = Field(30, gt=0, le=600)


class ICloudEndpoints(Section):
    """Where Apple's sign-in and setup services answer. Only for iCloud-compatible test
    servers and proxies: leave unset to talk to Apple."""

    auth: str  # https://idmsa.apple.com/appleauth/auth
    setup: str  # https://setup.icloud.com/setup/ws/1
    home: str  # https://www.icloud.com
    ca_bundle: Path | None = None  # TLS certificates to trust for them


class ICloudSettings(Section):
    username: str | None = None
    password: SecretStr | None = None  # prefer `mediasync icloud login` and the keyring
    cookie_directory: Path | None = None  # default: icloud-session/ beside the config file
    # step 1 alerts (notify.webhook_url) when the stored session ends within this (0: never)
    warn_days_before_expiry: float = Field(7, ge=0)
    delete: bool = False
    # what to list
    library: str = "root"  # or a Shared Library key, "shared:SharedSync-..."
    shared_library: bool = False  # list the Shared Library as well as `library`
    album: str | None = None  # one album (or smart album) instead of the whole library
    media: list[Literal["photo", "video", "live"]] = Field(
        default_factory=lambda: ["photo", "video", "live"])
    created_after: datetime | None = None
    created_before: datetime | None = None
    # incremental listing stops after this many assets in a row the ledger knows (0: never)
    stop_after_known: int = Field(50, ge=0)
    full_pass: bool = False
    # 503/429: retries per request, first back-off, longest wait (Retry-After is honoured)
    retries: int = Field(4, ge=0)
    backoff_seconds: float = Field(2.0, ge=0)
    max_backoff_seconds: float = Field(120.0, ge=0)
    timeout_seconds: float = Field(60.0, gt=0)
    endpoints: ICloudEndpoints | None = None


class SshEndpoint(Section):
    """One SSH server reached over SFTP. Host keys are always checked against known_hosts."""

    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str | None = None  # default: the local user name
    key_file: Path | None = None  # default: the ssh agent, then ~/.ssh/id_*
    key_passphrase: SecretStr | None = None
    known_hosts: Path = Path("~/.ssh/known_hosts")
    root: str = "."  # remote folder; relative to the login folder unless absolute
    connect_timeout_seconds: float = Field(15, gt=0)
    parallel_transfers: int = Field(16, ge=1, le=32)  # files in flight on one connection
    retries: int = Field(3, ge=0)  # after a dropped connection


class SftpSourceSettings(SshEndpoint):
    include: list[str] = Field(default_factory=lambda: ["*"])  # globs on the relative path
    exclude: list[str] = Field(default_factory=list)


class SftpArchiveSettings(SshEndpoint):
    # server: hash on the server (python3, openssl or sha256sum), refuse to run without
    # it; read: read back over SFTP; auto: server when a probe proves it works, else read
    verify: Literal["auto", "server", "read"] = "auto"
    # openssh: file bytes through OpenSSH's sftp program (about half the client CPU);
    # asyncssh: the built-in client; auto: openssh when it is installed and connects
    upload: Literal["auto", "openssh", "asyncssh"] = "auto"

    @field_validator("verify", mode="before")
    @classmethod
    def _old_name(cls, value: Any) -> Any:
        # "sha256sum" named the server-side hash when sha256sum was its only tool
        return "server" if value == "sha256sum" else value


class SftpSettings(Section):
    source: SftpSourceSettings | None = None  # used when source.kind = "sftp"
    archive: SftpArchiveSettings | None = None  # when present, step 4 archives over SFTP


class CompressionRule(Section):
    """Files matching every given condition use this strategy; the first match wins.
    Strategies: keep, jpeg (images), hevc and h264 (videos); see docs/compression.md."""

    media_type: Literal["image", "video"] | None = None
    formats: list[str] = Field(default_factory=list)  # lower-case extensions without dot
    older_than_days: int | None = Field(None, ge=0)
    strategy: Literal["keep", "jpeg", "hevc", "h264"] = "keep"
    quality: int | None = Field(None, ge=1, le=100)  # jpeg
    max_long_edge: int | None = Field(None, ge=16)  # jpeg, hevc, h264
    crf: int | None = Field(None, ge=0, le=51)  # hevc, h264
    preset: str | None = None  # x264/x265 preset, e.g. "medium", "fast"
    # likeness floor: a copy whose SSIM against the original (a small render, a few
    # video frames) is below it is discarded; None: 0.95 for images, 0.90 for videos
    min_ssim: float | None = Field(None, gt=0, le=1)

    @field_validator("formats")
    @classmethod
    def _plain_extensions(cls, value: list[str]) -> list[str]:
        return [ext.lower().lstrip(".") for ext in value]


class CompressionSettings(Section):
    enabled: bool = True
    min_saving: float = Field(0.05, ge=0, lt=1)  # keep a result only if this much smaller
    replace_original: bool = False
    image_workers: int | None = Field(None, ge=1)  # processes for images; None: all cores
    video_workers: int = Field(1, ge=1)  # videos encoded at the same time
    dask_address: str | None = None  # e.g. "tcp://10.0.0.5:8786": run step 6 on a cluster
    rules: list[CompressionRule] = Field(
        default_factory=lambda: [
            CompressionRule(media_type="image", formats=["jpg", "jpeg", "png"],
                            strategy="jpeg", quality=85, max_long_edge=4096),
        ]
    )


class NotifySettings(Section):
    # JSON POST target for alerts; a secret because such URLs usually carry a token
    webhook_url: SecretStr | None = None
    timeout_seconds: float = Field(10, gt=0)
    # a run refused because another has held the ledger this long alerts: it may hang
    stuck_after_hours: float = Field(6, gt=0)


class WatchSettings(Section):
    """`mediasync watch`, `reconcile` and `doctor`."""

    roots: list[Path] = Field(default_factory=list)  # watched when no PATH is given
    debounce_ms: int = Field(500, ge=0)  # quiet time after a file's last event
    hash_workers: int = Field(4, ge=1)
    batch_size: int = Field(1000, ge=1)  # records per ledger write
    stuck_after_hours: float = Field(24, gt=0)  # doctor: longer at one stage is stuck
    stuck_after_hours_by_stage: dict[Stage, float] = Field(default_factory=dict)


class RetentionRule(Section):
    """Objects with one of these extensions keep for `retention_days` instead of the bucket's
    default; None keeps them for ever (e.g. keep JPGs). The first matching rule wins."""

    extensions: list[str]  # lower-case, without the dot
    retention_days: int | None = Field(None, ge=0)


class BucketSettings(Section):
    """A Supabase Storage bucket: mirror, retention, and reconciliation with a table."""

    url: str | None = None  # the project URL, https://<ref>.supabase.co
    service_key: SecretStr | None = None
    bucket: str | None = None
    prefix: str = ""  # only this folder of the bucket
    registry: Path = Path("bucket_registry")  # the local mirror
    missing_list: Path = Path("bucket_missing_files.txt")
    parallelism: int = Field(8, ge=1, le=64)
    list_page_size: int = Field(100, ge=1, le=1000)
    # retention: None turns it off
    retention_days: int | None = Field(None, ge=0)
    age_from: Literal["metadata", "path"] = "metadata"
    path_pattern: str = "{device}/{YYYY}/{MM}/{DD}/{HH}{mm}{ss}"
    path_timezone: str = "UTC"
    retention_rules: list[RetentionRule] = Field(default_factory=list)
    remove_local_copies: bool = True
    apply_retention: bool = False  # deletes are a dry run until this or --apply
    max_retention_deletes: int | None = Field(None, ge=0)  # more expired than this: none go
    # reconciliation against a table (PostgREST)
    table: str = "part_images"
    key_column: str = "file_path"
    url_column: str = "signed_url"
    reconcile_extensions: list[str] = Field(default_factory=list)  # empty: every object
    signed_url_seconds: int = Field(7 * 24 * 3600, ge=60)
    signed_url_margin_seconds: int = Field(24 * 3600, ge=0)
    insert_batch_size: int = Field(500, ge=1, le=1000)

    @field_validator("path_pattern")
    @classmethod
    def _pattern_has_a_date(cls, value: str) -> str:
        missing = [f"{{{part}}}" for part in ("YYYY", "MM", "DD") if f"{{{part}}}" not in value]
        if missing:
            raise ValueError(f"path_pattern needs {', '.join(missing)}")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MEDIASYNC_", env_nested_delimiter="__", extra="forbid"
    )

    config_path: Path | None = Field(default=None, exclude=True)
    workflow: WorkflowSettings = WorkflowSettings()
    source: SourceSettings = SourceSettings()
    guards: DeleteGuards = DeleteGuards()
    ledger: LedgerSettings = LedgerSettings()
    syncthing: SyncthingSettings = SyncthingSettings()
    icloud: ICloudSettings = ICloudSettings()
    sftp: SftpSettings = SftpSettings()
    compression: CompressionSettings = CompressionSettings()
    notify: NotifySettings = NotifySettings()
    watch: WatchSettings = WatchSettings()
    bucket: BucketSettings = BucketSettings()

    @field_validator("config_path")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.resolve() if value else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file_from(init_settings)
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent if self.config_path else Path.cwd()

    def resolve(self, path: Path) -> Path:
        path = path.expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def pixel_enabled(self) -> bool:
        return self.syncthing.enabled


def _config_file_from(init_settings: PydanticBaseSettingsSource) -> Path | None:
    given = init_settings().get("config_path")
    return Path(given) if given else None


def find_config(explicit: Path | None) -> Path | None:
    """`--config`, else $MEDIASYNC_CONFIG, else ./mediasync.toml when present."""
    if explicit is not None:
        return explicit
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    default = Path("mediasync.toml")
    return default if default.exists() else None


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    path = find_config(config)
    if path is not None and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        return Settings(config_path=path, **overrides)
    except ValidationError as exc:
        raise InvalidSettings(describe_validation_error(exc, path),
                              validation_problems(exc)) from None
    except ValueError as exc:  # TOML syntax
        raise ConfigError(f"{path}: {exc}") from None


class InvalidSettings(ConfigError):
    """Settings that do not validate, with each problem on its own."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def describe_validation_error(exc: ValidationError, path: Path | None) -> str:
    where = str(path) if path else "settings"
    return f"{where}: {'; '.join(validation_problems(exc))}"


def _table_model(annotation: Any) -> type[BaseModel] | None:
    """The table behind a field: `X`, `X | None` or `list[X]`."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def validation_problems(exc: ValidationError) -> list[str]:
    """One line per problem, the setting named; input values are left out on purpose:
    they may be secrets."""
    problems = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            problems.append(f"{name}: unknown setting{_did_you_mean(err['loc'])}")
        else:
            problems.append(f"{name}: {err['msg']}")
    return problems


def _did_you_mean(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of a list of tables: same model
            continue
        field = model.model_fields.get(part) if model else None
        model = _table_model(field.annotation) if field else None
    if model is None:
        return ""
    known = [name for name in model.model_fields if name != "config_path"]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    prefix = ".".join(str(p) for p in loc[:-1])
    return f" (did you mean {prefix + '.' if prefix else ''}{close[0]}?)" if close else ""

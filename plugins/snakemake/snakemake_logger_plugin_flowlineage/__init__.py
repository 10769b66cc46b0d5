from dataclasses import dataclass, field
from typing import Optional
import json, os, threading
from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    db: Optional[str] = field(default=None, metadata={"help": "db url", "env_var": True})

class LogHandler(LogHandlerBase):
    def __post_init__(self):
        self.f = open(os.environ.get("DUMP", "/tmp/smk_explore/dump.jsonl"), "a")
        self.f.write(json.dumps({"INIT": str(self.common_settings), "thread": threading.current_thread().name}) + "\n")
    def emit(self, record):
        d = {k: v for k, v in record.__dict__.items() if k not in ("args","exc_info","exc_text","stack_info","lineno","funcName","pathname","filename","module","msecs","relativeCreated","processName","process","taskName","levelno")}
        d["thread"] = threading.current_thread().name
        self.f.write(json.dumps(d, default=repr) + "\n"); self.f.flush()
    def close(self):
        self.f.write('{"CLOSE": 1}\n'); self.f.close(); super().close()
    @property
    def writes_to_stream(self): return False
    @property
    def writes_to_file(self): return False
    @property
    def has_filter(self): return True
    @property
    def has_formatter(self): return True
    @property
    def needs_rulegraph(self): return False

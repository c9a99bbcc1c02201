#include "core/engine/job_store.h"

#include <sqlite3.h>

#include <chrono>
#include <set>
#include <utility>

#include "core/util/error.h"

namespace ditstream::engine {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  prompt TEXT NOT NULL,
  width INTEGER NOT NULL, height INTEGER NOT NULL, frames INTEGER NOT NULL, steps INTEGER NOT NULL,
  seed INTEGER NOT NULL, shift REAL NOT NULL, guidance REAL NOT NULL, cache_threshold REAL NOT NULL,
  fps INTEGER NOT NULL,
  status TEXT NOT NULL,
  created_at REAL NOT NULL, started_at REAL NOT NULL, finished_at REAL NOT NULL,
  step INTEGER NOT NULL, computed_steps INTEGER NOT NULL, reused_steps INTEGER NOT NULL,
  frames_done INTEGER NOT NULL,
  error TEXT NOT NULL, text_path TEXT NOT NULL, decode_path TEXT NOT NULL, recording TEXT NOT NULL,
  preview_vae_every INTEGER NOT NULL DEFAULT 0, preview_path TEXT NOT NULL DEFAULT '',
  notes TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE TABLE IF NOT EXISTS job_timings (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  stage TEXT NOT NULL,
  seconds REAL NOT NULL,
  PRIMARY KEY (job_id, stage));
CREATE TABLE IF NOT EXISTS job_spans (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  what TEXT NOT NULL, lane TEXT NOT NULL, start REAL NOT NULL, end REAL NOT NULL,
  PRIMARY KEY (job_id, seq));
PRAGMA foreign_keys = ON;
)sql";

constexpr const char* kColumns =
    "id, prompt, width, height, frames, steps, seed, shift, guidance, cache_threshold, fps, status, created_at, "
    "started_at, finished_at, step, computed_steps, reused_steps, frames_done, error, text_path, decode_path, "
    "recording, preview_vae_every, preview_path, notes";

// Columns added after the first schema: databases written before get them on open.
constexpr std::pair<const char*, const char*> kAddedColumns[] = {
    {"preview_vae_every", "INTEGER NOT NULL DEFAULT 0"},
    {"preview_path", "TEXT NOT NULL DEFAULT ''"},
    {"notes", "TEXT NOT NULL DEFAULT ''"},
};

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  // Clears the bindings' use so the statement runs again with new ones.
  void reset() { sqlite3_reset(stmt_); }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail("step");
    return false;
  }
  std::string text(int i) const {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  }
  int64_t integer(int i) const { return sqlite3_column_int64(stmt_, i); }
  double real(int i) const { return sqlite3_column_double(stmt_, i); }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw Error(ErrorKind::internal, "job store", "", std::string(what) + ": " + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

JobRecord read_row(const Statement& s) {
  JobRecord r;
  r.id = s.text(0);
  r.request.prompt = s.text(1);
  r.request.width = static_cast<int>(s.integer(2));
  r.request.height = static_cast<int>(s.integer(3));
  r.request.frames = static_cast<int>(s.integer(4));
  r.request.steps = static_cast<int>(s.integer(5));
  r.request.seed = s.integer(6);
  r.request.shift = s.real(7);
  r.request.guidance = s.real(8);
  r.request.cache_threshold = s.real(9);
  r.request.fps = static_cast<int>(s.integer(10));
  r.status = parse_job_status(s.text(11));
  r.created_at = s.real(12);
  r.started_at = s.real(13);
  r.finished_at = s.real(14);
  r.step = static_cast<int>(s.integer(15));
  r.computed_steps = static_cast<int>(s.integer(16));
  r.reused_steps = static_cast<int>(s.integer(17));
  r.frames_done = static_cast<int>(s.integer(18));
  r.error = s.text(19);
  r.text_path = s.text(20);
  r.decode_path = s.text(21);
  r.recording = s.text(22);
  r.request.preview_vae_every = static_cast<int>(s.integer(23));
  r.preview_path = s.text(24);
  r.notes = s.text(25);
  return r;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

JobStore::JobStore(const std::filesystem::path& file) {
  if (sqlite3_open(file.c_str(), &db_) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ErrorKind::unavailable, "job store", "db", "cannot open '" + file.string() + "': " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  exec(kSchema);
  add_missing_columns();
  interrupted_ = mark_interrupted();
}

JobStore::~JobStore() { sqlite3_close(db_); }

void JobStore::exec(const char* sql) const {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown";
    sqlite3_free(message);
    throw Error(ErrorKind::internal, "job store", "", text);
  }
}

void JobStore::add_missing_columns() {
  std::set<std::string> present;
  {
    Statement s(db_, "PRAGMA table_info(jobs)");
    while (s.step()) present.insert(s.text(1));
  }
  for (const auto& [name, declaration] : kAddedColumns) {
    if (!present.count(name)) exec((std::string("ALTER TABLE jobs ADD COLUMN ") + name + " " + declaration).c_str());
  }
}

int JobStore::mark_interrupted() {
  std::lock_guard lock(mutex_);
  Statement s(db_,
              "UPDATE jobs SET status = 'failed', finished_at = ?1, error = CASE status WHEN 'in_progress' THEN "
              "'interrupted: the service stopped while the job was running' ELSE "
              "'interrupted: the service stopped before the job ran' END WHERE status IN ('queued', 'in_progress')");
  s.bind(1, unix_now());
  s.step();
  return sqlite3_changes(db_);
}

void JobStore::put(const JobRecord& r) {
  std::lock_guard lock(mutex_);
  exec("BEGIN");
  try {
    Statement s(db_, std::string("INSERT OR REPLACE INTO jobs (") + kColumns +
                         ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
                         "?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)");
    const auto& q = r.request;
    s.bind(1, r.id).bind(2, q.prompt).bind(3, q.width).bind(4, q.height).bind(5, q.frames).bind(6, q.steps);
    s.bind(7, q.seed).bind(8, q.shift).bind(9, q.guidance).bind(10, q.cache_threshold).bind(11, q.fps);
    s.bind(12, std::string(to_string(r.status))).bind(13, r.created_at).bind(14, r.started_at).bind(15, r.finished_at);
    s.bind(16, r.step).bind(17, r.computed_steps).bind(18, r.reused_steps).bind(19, r.frames_done);
    s.bind(20, r.error).bind(21, r.text_path).bind(22, r.decode_path).bind(23, r.recording);
    s.bind(24, q.preview_vae_every).bind(25, r.preview_path).bind(26, r.notes);
    s.step();
    Statement clear(db_, "DELETE FROM job_timings WHERE job_id = ?1");
    clear.bind(1, r.id).step();
    for (const auto& [stage, seconds] : r.timings) {
      Statement t(db_, "INSERT INTO job_timings (job_id, stage, seconds) VALUES (?1, ?2, ?3)");
      t.bind(1, r.id).bind(2, stage).bind(3, seconds).step();
    }
    Statement clear_spans(db_, "DELETE FROM job_spans WHERE job_id = ?1");
    clear_spans.bind(1, r.id).step();
    Statement span(db_, "INSERT INTO job_spans (job_id, seq, what, lane, start, end) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    for (size_t i = 0; i < r.timeline.size(); ++i) {
      const auto& p = r.timeline[i];
      span.reset();
      span.bind(1, r.id).bind(2, static_cast<int64_t>(i)).bind(3, p.what).bind(4, p.lane).bind(5, p.start).bind(6, p.end);
      span.step();
    }
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

std::optional<JobRecord> JobStore::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, std::string("SELECT ") + kColumns + " FROM jobs WHERE id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  JobRecord r = read_row(s);
  Statement t(db_, "SELECT stage, seconds FROM job_timings WHERE job_id = ?1");
  t.bind(1, id);
  while (t.step()) r.timings[t.text(0)] = t.real(1);
  Statement spans(db_, "SELECT what, lane, start, end FROM job_spans WHERE job_id = ?1 ORDER BY seq");
  spans.bind(1, id);
  while (spans.step()) r.timeline.push_back({spans.text(0), spans.text(1), spans.real(2), spans.real(3)});
  return r;
}

std::vector<JobRecord> JobStore::list(int offset, int limit) const {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT id FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?1 OFFSET ?2");
    s.bind(1, limit).bind(2, offset);
    while (s.step()) ids.push_back(s.text(0));
  }
  std::vector<JobRecord> out;
  for (const auto& id : ids) {
    if (auto r = get(id)) out.push_back(std::move(*r));
  }
  return out;
}

int JobStore::count() const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT COUNT(*) FROM jobs");
  s.step();
  return static_cast<int>(s.integer(0));
}

void JobStore::remove(const std::string& id) {
  std::lock_guard lock(mutex_);
  Statement t(db_, "DELETE FROM job_timings WHERE job_id = ?1");
  t.bind(1, id).step();
  Statement spans(db_, "DELETE FROM job_spans WHERE job_id = ?1");
  spans.bind(1, id).step();
  Statement s(db_, "DELETE FROM jobs WHERE id = ?1");
  s.bind(1, id).step();
}

}  // namespace ditstream::engine

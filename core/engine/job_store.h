// Job history in SQLite: requests, statuses, progress, timings, engine timelines and recording names. A restarted
// service lists what was there before; jobs that were queued or running when it stopped are failed
// with a reason on open.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/job.h"

struct sqlite3;

namespace ditstream::engine {

class JobStore {
 public:
  // Opens (or creates) the database; ":memory:" keeps it in memory.
  explicit JobStore(const std::filesystem::path& file);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Inserts or replaces the whole record (timings included).
  void put(const JobRecord& record);
  std::optional<JobRecord> get(const std::string& id) const;
  // Newest first.
  std::vector<JobRecord> list(int offset, int limit) const;
  int count() const;
  void remove(const std::string& id);
  // How many jobs open() found unfinished and marked failed.
  int interrupted_on_open() const { return interrupted_; }

 private:
  void exec(const char* sql) const;
  void add_missing_columns();
  int mark_interrupted();

  sqlite3* db_ = nullptr;
  mutable std::mutex mutex_;
  int interrupted_ = 0;
};

}  // namespace ditstream::engine

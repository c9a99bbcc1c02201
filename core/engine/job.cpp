#include "core/engine/job.h"

#include "core/util/error.h"

namespace ditstream::engine {

std::string_view to_string(JobStatus status) {
  switch (status) {
    case JobStatus::queued: return "queued";
    case JobStatus::in_progress: return "in_progress";
    case JobStatus::completed: return "completed";
    case JobStatus::failed: return "failed";
    case JobStatus::canceled: return "canceled";
  }
  return "failed";
}

JobStatus parse_job_status(std::string_view text, std::string_view field) {
  for (auto s : {JobStatus::queued, JobStatus::in_progress, JobStatus::completed, JobStatus::failed,
                 JobStatus::canceled}) {
    if (to_string(s) == text) return s;
  }
  throw_invalid("job", std::string(field),
                "'" + std::string(text) + "' is not one of queued|in_progress|completed|failed|canceled");
}

void add_note(JobRecord& record, const std::string& note) {
  if (note.empty()) return;
  if (!record.notes.empty()) record.notes.push_back(' ');
  record.notes.append(note);
}

bool is_terminal(JobStatus status) {
  return status == JobStatus::completed || status == JobStatus::failed || status == JobStatus::canceled;
}

}  // namespace ditstream::engine

// The job model: what a caller asks for, where a job stands, and what is kept about it.
// Torch-free: the web layer, the store and the fuzzers use it without libtorch.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine/timeline.h"

namespace ditstream::engine {

// JobRequest::preview_vae_every: the engine picks the interval from its measured step and decode times.
inline constexpr int kPreviewVaeAuto = -1;

// One generation request, already validated by the layer that received it.
struct JobRequest {
  std::string prompt;
  int width = 64;
  int height = 64;
  int frames = 5;
  int steps = 4;
  int64_t seed = 0;
  double shift = 7.0;
  double guidance = 6.0;
  double cache_threshold = 0.0;  // First Block Cache: 0 disables reuse
  int fps = 8;
  // Real-VAE previews: decode the x0 prediction every this many steps (steps k, 2k, ... before the
  // last one, whose x0 the final decode shows) while denoising goes on. 0: off (the latent→RGB
  // preview of every step only); kPreviewVaeAuto: chosen from measured times.
  int preview_vae_every = 0;
};

enum class JobStatus { queued, in_progress, completed, failed, canceled };

std::string_view to_string(JobStatus status);
// Throws ditstream::Error naming `field` when `text` is not a status.
JobStatus parse_job_status(std::string_view text, std::string_view field = "status");
bool is_terminal(JobStatus status);

// Everything the store keeps about a job; the HTTP layer renders it.
struct JobRecord {
  std::string id;
  JobRequest request;
  JobStatus status = JobStatus::queued;
  double created_at = 0;   // unix seconds
  double started_at = 0;   // 0 until started
  double finished_at = 0;  // 0 until finished
  int step = 0;            // steps done
  int computed_steps = 0;
  int reused_steps = 0;
  int frames_done = 0;     // final frames decoded
  std::string error;
  std::string text_path;    // which text-conditioning path ran
  std::string decode_path;  // which decode path ran
  std::string recording;    // file name inside the recordings folder, empty until completed
  std::map<std::string, double> timings;  // stage → seconds ("queue_wait", "first_preview", ...)
  std::string preview_path;  // "latent-rgb" or "latent-rgb+vae", empty until denoising starts
  std::string notes;         // what the service decided for this job and why (fallbacks, waits)
  std::vector<Span> timeline;
};

// Appends a sentence to JobRecord::notes.
void add_note(JobRecord& record, const std::string& note);

}  // namespace ditstream::engine

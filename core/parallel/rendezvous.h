// Start-up agreement between the ranks before any GPU collective: rank 0 hosts a c10d TCPStore at
// MASTER_ADDR:MASTER_PORT, the others connect to it; the store carries NCCL's unique id and the
// check that every rank loads the same model files. Every wait is bounded by a timeout, so a
// missing master or a rank that never comes fails with an error instead of hanging.
#pragma once

#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "core/parallel/rank_environment.h"

namespace c10d {
class Store;
}

namespace ditstream::parallel {

// Connects this rank to the job's store (rank 0 creates it and waits for all ranks, unless
// torchrun's agent hosts it already: RankEnvironment::agent_store). Throws
// ditstream::Error (unavailable) naming the address when the master cannot be reached or not
// every rank joins within `timeout`.
c10::intrusive_ptr<c10d::Store> connect_rendezvous(const RankEnvironment& env, std::chrono::milliseconds timeout);

// Publishes this rank's value under `key` and returns every rank's, in rank order, waiting at most
// `timeout` for the others. Each key is used once per job.
std::vector<std::string> exchange_strings(c10d::Store& store, const RankEnvironment& env, const std::string& key,
                                          const std::string& value, std::chrono::milliseconds timeout);

// A fingerprint of a model folder: every file's relative path and size, and the content of each
// file's first and last MiB (which holds a safetensors file's header: every tensor's name, dtype,
// shape and offsets; and whole config files). Catches different models, versions, configs and
// truncated copies without reading tens of GB at start-up.
std::string model_files_digest(const std::filesystem::path& folder);

// Every rank's digest of its model folder must equal rank 0's; throws ditstream::Error (bad_file)
// on every rank otherwise, naming the ranks that differ.
void check_same_model(c10d::Store& store, const RankEnvironment& env, const std::filesystem::path& folder,
                      std::chrono::milliseconds timeout);

}  // namespace ditstream::parallel

#include "core/parallel/rendezvous.h"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <fstream>
#include <thread>

#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::parallel {
namespace {

constexpr std::string_view kContext = "rendezvous";
constexpr uint64_t kFnvOffset = 1469598103934665603ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;
constexpr std::streamsize kEdgeBytes = 1 << 20;

std::string seconds(std::chrono::milliseconds t) {
  return std::to_string(t.count() / 1000) + "." + std::to_string((t.count() % 1000) / 100) + " s";
}

void hash_bytes(uint64_t& h, const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= kFnvPrime;
  }
}

void hash_string(uint64_t& h, const std::string& s) {
  hash_bytes(h, s.data(), s.size());
  hash_bytes(h, "", 1);
}

void hash_range(uint64_t& h, std::ifstream& in, std::streamoff offset, std::streamsize length) {
  std::vector<char> buffer(static_cast<size_t>(length));
  in.seekg(offset);
  in.read(buffer.data(), length);
  hash_bytes(h, buffer.data(), static_cast<size_t>(in.gcount()));
}

}  // namespace

c10::intrusive_ptr<c10d::Store> connect_rendezvous(const RankEnvironment& env, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = env.master_port;
  options.isServer = env.rank == 0 && !env.agent_store;
  options.numWorkers = static_cast<size_t>(env.world_size);
  options.waitWorkers = true;
  options.timeout = timeout;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    log::info("rank {}/{}: rendezvous at {} ({})", env.rank, env.world_size, where, to_string(env.source));
    return store;
  } catch (const c10::Error& e) {
    const std::string first_line = std::string(e.what_without_backtrace()).substr(0, 300);
    throw Error(ErrorKind::unavailable, std::string(kContext), "MASTER_ADDR",
                options.isServer ? "rank 0 could not serve " + where + " or not all " + std::to_string(env.world_size) +
                                    " ranks joined within " + seconds(timeout) + ": " + first_line
                              : "rank " + std::to_string(env.rank) + " could not reach the master at " + where +
                                    " within " + seconds(timeout) + ": " + first_line);
  }
}

std::vector<std::string> exchange_strings(c10d::Store& store, const RankEnvironment& env, const std::string& key,
                                          const std::string& value, std::chrono::milliseconds timeout) {
  const std::string prefix = "ditstream/" + key + "/";
  store.set(prefix + std::to_string(env.rank), std::vector<uint8_t>(value.begin(), value.end()));
  std::vector<std::string> keys;
  for (int r = 0; r < env.world_size; ++r) keys.push_back(prefix + std::to_string(r));
  try {
    store.wait(keys, timeout);
  } catch (const c10::Error& e) {
    std::string missing;
    for (int r = 0; r < env.world_size; ++r) {
      if (store.check({keys[r]})) continue;
      if (!missing.empty()) missing += ", ";
      missing += std::to_string(r);
    }
    throw Error(ErrorKind::unavailable, std::string(kContext), key,
                "rank " + std::to_string(env.rank) + " waited " + seconds(timeout) + " for ranks [" + missing + "]");
  }
  std::vector<std::string> out;
  for (const auto& k : keys) {
    const auto bytes = store.get(k);
    out.emplace_back(bytes.begin(), bytes.end());
  }
  // Rank 0 hosts the store: it leaves only after every rank has read, or the store could go away
  // under a rank still reading.
  const std::string read_key = prefix + "read";
  store.add(read_key, 1);
  if (env.rank == 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (store.add(read_key, 0) < env.world_size) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw Error(ErrorKind::unavailable, std::string(kContext), key,
                    "rank 0 waited " + seconds(timeout) + " for all ranks to read");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return out;
}

std::string model_files_digest(const std::filesystem::path& folder) {
  if (!std::filesystem::is_directory(folder)) {
    throw_invalid("model files", "model", folder.string() + " is not a folder");
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(folder)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  uint64_t h = kFnvOffset;
  for (const auto& file : files) {
    const auto size = static_cast<std::streamoff>(std::filesystem::file_size(file));
    hash_string(h, std::filesystem::relative(file, folder).generic_string());
    hash_string(h, std::to_string(size));
    std::ifstream in(file, std::ios::binary);
    if (!in) throw_bad_file("model files", file.string(), "cannot be read");
    hash_range(h, in, 0, std::min<std::streamoff>(size, kEdgeBytes));
    if (size > kEdgeBytes) {
      const std::streamoff tail = std::max<std::streamoff>(kEdgeBytes, size - kEdgeBytes);
      hash_range(h, in, tail, size - tail);
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return std::to_string(files.size()) + ":" + hex;
}

void check_same_model(c10d::Store& store, const RankEnvironment& env, const std::filesystem::path& folder,
                      std::chrono::milliseconds timeout) {
  const std::string mine = model_files_digest(folder);
  const auto all = exchange_strings(store, env, "model_digest", mine, timeout);
  std::string differing;
  for (int r = 1; r < env.world_size; ++r) {
    if (all[r] == all[0]) continue;
    if (!differing.empty()) differing += ", ";
    differing += std::to_string(r) + " (" + all[r] + ")";
  }
  if (!differing.empty()) {
    throw Error(ErrorKind::bad_file, "model files", folder.string(),
                "ranks [" + differing + "] do not hold the same model files as rank 0 (" + all[0] + ")");
  }
  log::info("rank {}: model files agree across {} ranks ({})", env.rank, env.world_size, mine);
}

}  // namespace ditstream::parallel

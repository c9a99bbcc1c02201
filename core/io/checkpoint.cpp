#include "core/io/checkpoint.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "core/util/error.h"

namespace ditstream::io {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::not_found, path.string(), "", "cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw_bad_file(path.string(), "", std::string("is not valid JSON: ") + e.what());
  }
}

}  // namespace

Checkpoint Checkpoint::open(const std::filesystem::path& path) {
  Checkpoint ckpt;
  ckpt.path_ = path;
  const std::string name = path.filename().string();
  if (!ends_with(name, ".index.json")) {
    auto file = SafetensorsFile::open(path);
    for (const auto& rec : file->records()) ckpt.entries_.emplace(rec.name, Entry{file, &rec});
    return ckpt;
  }

  const auto index = read_json(path);
  const auto map_it = index.find("weight_map");
  if (!index.is_object() || map_it == index.end() || !map_it->is_object()) {
    throw_bad_file(path.string(), "weight_map", "missing or not an object of tensor name -> shard file");
  }
  std::map<std::string, std::set<std::string>> expected_by_shard;
  for (const auto& [tensor, shard] : map_it->items()) {
    if (!shard.is_string()) throw_bad_file(path.string(), "weight_map." + tensor, "expected a shard file name");
    const auto shard_name = shard.get<std::string>();
    if (shard_name.find('/') != std::string::npos || shard_name == "..") {
      throw_bad_file(path.string(), "weight_map." + tensor, "shard '" + shard_name + "' must be a file beside the index");
    }
    expected_by_shard[shard_name].insert(tensor);
  }
  for (const auto& [shard_name, expected] : expected_by_shard) {
    const auto shard_path = path.parent_path() / shard_name;
    if (!std::filesystem::exists(shard_path)) {
      throw Error(ErrorKind::bad_file, path.string(), "weight_map",
                  "shard '" + shard_name + "' is missing (needed for " + *expected.begin() + ")");
    }
    auto file = SafetensorsFile::open(shard_path);
    for (const auto& rec : file->records()) {
      if (!expected.count(rec.name)) {
        throw_bad_file(shard_path.string(), rec.name, "the index does not assign this tensor to this shard");
      }
      ckpt.entries_.emplace(rec.name, Entry{file, &rec});
    }
    for (const auto& tensor : expected) {
      if (!file->find(tensor)) throw_bad_file(shard_path.string(), tensor, "listed in the index but not in the shard");
    }
  }
  return ckpt;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, _] : entries_) out.push_back(name);
  return out;
}

const TensorRecord* Checkpoint::find(std::string_view name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.record;
}

const TensorRecord& Checkpoint::record(std::string_view name) const {
  const TensorRecord* rec = find(name);
  if (rec == nullptr) throw Error(ErrorKind::not_found, "checkpoint: " + path_.string(), std::string(name), "no such tensor");
  return *rec;
}

at::Tensor Checkpoint::tensor(std::string_view name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) {
    throw Error(ErrorKind::not_found, "checkpoint: " + path_.string(), std::string(name), "no such tensor");
  }
  return it->second.file->tensor(*it->second.record);
}

at::Tensor Checkpoint::load(std::string_view name, at::Device device, std::optional<at::ScalarType> dtype) const {
  at::Tensor view = tensor(name);
  const at::ScalarType target = dtype.value_or(view.scalar_type());
  if (device.is_cpu()) {
    // Own the memory: the mapping is read-only and callers may write into parameters.
    return view.to(target, /*non_blocking=*/false, /*copy=*/true);
  }
  // Upload in the stored dtype, convert on the device: no host-side copy at the target precision.
  return view.to(device, /*non_blocking=*/false, /*copy=*/true).to(target);
}

}  // namespace ditstream::io

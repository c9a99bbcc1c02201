#include "core/model/module.h"

#include <ATen/ATen.h>

#include <cmath>
#include <mutex>
#include <set>

#include "core/io/checkpoint.h"
#include "core/util/error.h"

namespace ditstream::model {
namespace {

std::string shape_text(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string join_limited(const std::vector<std::string>& names, size_t limit = 12) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < limit; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > limit) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

at::Tensor& Module::register_parameter(std::string name, std::vector<int64_t> shape) {
  parameters_.push_back(std::make_unique<Parameter>(Parameter{std::move(name), std::move(shape), at::Tensor()}));
  return parameters_.back()->value;
}

void Module::collect(const std::string& prefix, std::vector<Slot>& out) {
  for (auto& p : parameters_) out.push_back({prefix + p->name, p.get()});
  for (auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<std::pair<std::string, at::Tensor*>> Module::named_parameters() {
  std::vector<Slot> slots;
  collect("", slots);
  std::vector<std::pair<std::string, at::Tensor*>> out;
  out.reserve(slots.size());
  for (auto& s : slots) out.emplace_back(s.name, &s.parameter->value);
  return out;
}

int64_t Module::parameter_count() {
  std::vector<Slot> slots;
  collect("", slots);
  int64_t n = 0;
  for (auto& s : slots) {
    int64_t numel = 1;
    for (int64_t d : s.parameter->shape) numel *= d;
    n += numel;
  }
  return n;
}

void Module::load(const io::Checkpoint& checkpoint, const LoadOptions& options, const std::string& prefix) {
  std::vector<Slot> slots;
  collect("", slots);
  std::vector<std::string> missing, misshaped;
  std::set<std::string> taken;
  for (auto& slot : slots) {
    const std::string key = prefix + slot.name;
    const auto* record = checkpoint.find(key);
    if (record == nullptr) {
      missing.push_back(key);
      continue;
    }
    taken.insert(key);
    if (record->shape != slot.parameter->shape) {
      misshaped.push_back(key + " is " + shape_text(record->shape) + ", expected " + shape_text(slot.parameter->shape));
    }
  }
  std::vector<std::string> unexpected;
  if (options.strict) {
    for (const auto& name : checkpoint.names()) {
      if (name.rfind(prefix, 0) == 0 && !taken.count(name)) unexpected.push_back(name);
    }
  }
  if (!missing.empty() || !misshaped.empty() || !unexpected.empty()) {
    std::string detail;
    if (!missing.empty()) detail += "missing tensors: " + join_limited(missing) + ". ";
    if (!misshaped.empty()) detail += "wrong shapes: " + join_limited(misshaped) + ". ";
    if (!unexpected.empty()) detail += "unexpected tensors: " + join_limited(unexpected) + ". ";
    throw_bad_file("weights: " + checkpoint.path().string(), "", detail);
  }
  for (auto& slot : slots) {
    const std::string key = prefix + slot.name;
    const bool floating = at::isFloatingType(io::to_scalar_type(checkpoint.record(key).dtype, key));
    slot.parameter->value = checkpoint.load(key, options.device, floating ? options.dtype : std::nullopt);
  }
}

void Module::init_random(at::Device device, at::ScalarType dtype, uint64_t seed) {
  std::vector<Slot> slots;
  collect("", slots);
  at::Generator gen = at::globalContext().defaultGenerator(device);
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  for (auto& slot : slots) {
    const auto& shape = slot.parameter->shape;
    at::Tensor& value = slot.parameter->value;
    if (ends_with(slot.name, "bias")) {
      value = at::zeros(shape, options);
    } else if (shape.size() == 1) {
      value = at::ones(shape, options);  // norm scales
    } else {
      int64_t fan_in = 1;
      for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      // Drawn on the device: a 12.8 B-parameter model never passes through host memory.
      value = at::empty(shape, options).uniform_(-bound, bound, gen);
    }
  }
}

void Module::to(at::Device device, std::optional<at::ScalarType> dtype) {
  std::vector<Slot> slots;
  collect("", slots);
  for (auto& slot : slots) {
    at::Tensor& v = slot.parameter->value;
    if (!v.defined()) continue;
    const bool floating = at::isFloatingType(v.scalar_type());
    v = v.to(device, floating && dtype ? *dtype : v.scalar_type());
  }
}

}  // namespace ditstream::model

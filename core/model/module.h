// The module tree is the weight map: each module registers its parameters and children under the
// names diffusers/transformers use, so `named_parameters()` equals a checkpoint's keys and loading
// is a walk over the tree that reports every missing, unexpected or mis-shaped tensor.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ditstream::io {
class Checkpoint;
}

namespace ditstream::model {

struct LoadOptions {
  at::Device device = at::kCPU;
  // Floating-point parameters are converted to this type; others keep theirs.
  std::optional<at::ScalarType> dtype;
  // Tensors in the checkpoint that no parameter takes are an error (else ignored).
  bool strict = true;
};

class Module {
 public:
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // (checkpoint name, parameter slot) for every parameter below this module.
  std::vector<std::pair<std::string, at::Tensor*>> named_parameters();
  int64_t parameter_count();

  // Loads every parameter from `checkpoint` (names below `prefix`, e.g. "" or "model."). Throws
  // ditstream::Error(bad_file) listing what is missing, unexpected or of the wrong shape.
  void load(const io::Checkpoint& checkpoint, const LoadOptions& options, const std::string& prefix = "");

  // Random weights for benchmarks at full size, made on `device`: norm scales 1, biases 0, other
  // weights uniform in ±1/sqrt(fan_in) as torch's default initialisation draws them.
  void init_random(at::Device device, at::ScalarType dtype, uint64_t seed);

  // Moves/casts every floating parameter (after a load, for tests switching precision).
  void to(at::Device device, std::optional<at::ScalarType> dtype = std::nullopt);

 protected:
  Module() = default;

  // Registers a parameter and returns its slot (stable for the module's lifetime).
  at::Tensor& register_parameter(std::string name, std::vector<int64_t> shape);

  template <typename M>
  M& register_module(std::string name, std::unique_ptr<M> module) {
    M& ref = *module;
    children_.emplace_back(std::move(name), std::move(module));
    return ref;
  }

 private:
  struct Parameter {
    std::string name;
    std::vector<int64_t> shape;
    at::Tensor value;
  };
  struct Slot {
    std::string name;
    Parameter* parameter;
  };
  void collect(const std::string& prefix, std::vector<Slot>& out);

  std::vector<std::unique_ptr<Parameter>> parameters_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

// A numbered list of modules: children "0", "1", ... as in torch.nn.ModuleList.
template <typename M>
class ModuleList : public Module {
 public:
  M& push_back(std::unique_ptr<M> module) {
    items_.push_back(module.get());
    return register_module(std::to_string(items_.size() - 1), std::move(module));
  }
  size_t size() const { return items_.size(); }
  M& operator[](size_t i) { return *items_[i]; }
  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }

 private:
  std::vector<M*> items_;
};

}  // namespace ditstream::model

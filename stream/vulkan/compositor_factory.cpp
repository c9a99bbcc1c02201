#include "stream/vulkan/compositor_factory.h"

#include "core/util/error.h"
#include "core/util/log.h"
#include "stream/vulkan/vulkan_compositor.h"

namespace ditstream::stream {
namespace {

constexpr std::string_view kContext = "compositor";

std::shared_ptr<const VulkanKernels> make_kernels(const CompositorOptions& o) {
  return std::make_shared<VulkanKernels>(vk::DeviceRequest{o.cuda_interop, o.device_uuid, o.device_extensions});
}

std::string vulkan_reason(BackendChoice choice, const vk::VulkanContext& ctx) {
  return std::string(choice == BackendChoice::vulkan ? "requested" : "auto") + ": " +
         (ctx.is_cpu_device() ? "no GPU Vulkan driver, the shaders run on the CPU device" : "a Vulkan GPU was found");
}

}  // namespace

CompositorFactory::CompositorFactory(CompositorOptions defaults, std::shared_ptr<const DeviceInterop> interop)
    : defaults_(std::move(defaults)) {
  if (defaults_.backend == BackendChoice::cpu) {
    info_ = {CompositorBackend::cpu, "host", "requested", false};
    log::info("compositor: CPU back-end (requested)");
    return;
  }
  if (interop) {
    defaults_.cuda_interop = true;
    defaults_.device_uuid = interop->device_uuid();
  }
  try {
    kernels_ = make_kernels(defaults_);
    info_ = {CompositorBackend::vulkan, kernels_->context().device_name(),
             vulkan_reason(defaults_.backend, kernels_->context()), defaults_.cuda_interop};
    if (interop) info_.reason += "; frames stay on " + interop->name();
    interop_ = std::move(interop);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::unavailable) throw;
    if (interop) {
      // Vulkan may still run on another device (or lavapipe): the engine's frames then reach it
      // through host copies.
      defaults_.cuda_interop = false;
      defaults_.device_uuid.reset();
      try {
        kernels_ = make_kernels(defaults_);
        info_ = {CompositorBackend::vulkan, kernels_->context().device_name(),
                 vulkan_reason(defaults_.backend, kernels_->context()) + "; no interop with " + interop->name() + " (" +
                     e.what() + "), its frames are copied to the host first",
                 false};
        log::warn("compositor: Vulkan on {}: {}", info_.device, info_.reason);
        return;
      } catch (const Error& again) {
        if (again.kind() != ErrorKind::unavailable) throw;
      }
    }
    if (defaults_.backend == BackendChoice::vulkan) {
      throw Error(e.kind(), std::string(kContext), e.field(), "Vulkan was required but is not usable: " + e.detail());
    }
    info_ = {CompositorBackend::cpu, "host", std::string("auto: Vulkan is not usable: ") + e.what(), false};
    log::warn("compositor: converting frames on the CPU: {}", info_.reason);
    return;
  }
  log::info("compositor: Vulkan on {} ({}){}", info_.device, info_.reason,
            info_.cuda_interop ? ", CUDA interop on" : "");
}

std::unique_ptr<Compositor> CompositorFactory::make(int width, int height) const {
  validate_i420_size(width, height, kContext);
  CompositorOptions options = defaults_;
  options.width = width;
  options.height = height;
  if (!kernels_) return make_cpu_compositor(options, info_, counters_);
  return std::make_unique<VulkanCompositor>(options, kernels_, info_, counters_);
}

std::unique_ptr<DeviceFrameInput> CompositorFactory::device_input(Compositor& compositor) const {
  if (!interop_ || !kernels_) return nullptr;
  auto* vulkan = dynamic_cast<VulkanCompositor*>(&compositor);
  require(vulkan != nullptr, kContext, "compositor", "was not made by this factory's Vulkan back-end");
  return interop_->attach(*vulkan);
}

}  // namespace ditstream::stream

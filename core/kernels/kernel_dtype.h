// The element types the kernels take, as seen from the host side (no CUDA headers needed).
#pragma once

namespace ditstream::kernels {

enum class ElementType { f32, f16, bf16 };

}  // namespace ditstream::kernels

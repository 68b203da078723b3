// docs/snippets/core_quickstart.cpp
#include <elm/elm.hpp>

#include <cstdio>
#include <filesystem>

int main() {
  // One column per position: three logits for one token.
  elm::Matrix<float> logits(3, 1);
  logits << 1.0f, 2.0f, 3.0f;
  elm::Matrix<float> probs;
  elm::softmax_columns<float>(logits, probs);
  std::printf("softmax(1, 2, 3) = %.4f %.4f %.4f\n", static_cast<double>(probs(0)),
              static_cast<double>(probs(1)), static_cast<double>(probs(2)));

  // Seeded draws are the same on every platform.
  elm::Rng a(7), b(7);
  std::printf("same seed, same draw: %s\n", a.normal() == b.normal() ? "yes" : "no");

  // A PyTorch-shaped (2, 3) tensor saved as safetensors and read back.
  elm::Matrix<float> weight(3, 2);  // rows = last dimension, as the bytes lie in the file
  weight << 1, 4, 2, 5, 3, 6;
  elm::io::SafetensorsWriter writer;
  writer.add("proj.weight", {2, 3}, weight);
  const auto path = (std::filesystem::temp_directory_path() / "quickstart.safetensors").string();
  writer.save(path);
  const elm::io::SafetensorsReader reader(path);
  std::printf("read back equal: %s, shape [%td, %td]\n",
              reader.read_matrix<float>("proj.weight") == weight ? "yes" : "no",
              reader.info("proj.weight").shape[0], reader.info("proj.weight").shape[1]);

  try {
    elm::check_shape(weight, 3, 3, "quickstart", "weight");
  } catch (const elm::ShapeError& e) {
    std::printf("error: %s\n", e.what());
  }
}

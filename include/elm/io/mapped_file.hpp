// SPDX-License-Identifier: MIT
// A read-only view of a whole file: memory-mapped on POSIX systems, read into memory elsewhere.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define ELM_HAVE_MMAP 1
#endif

#include "elm/core/error.hpp"

namespace elm::io {

/// The bytes of a file, valid for the object's lifetime. Move-only. Throws IoError when the file cannot be
/// opened or read.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
#ifdef ELM_HAVE_MMAP
    const int fd = ::open(path.c_str(), O_RDONLY);
    ELM_EXPECT(fd >= 0, IoError, "elm::io::MappedFile: cannot open ", path, ": ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw IoError(elm::detail::concat("elm::io::MappedFile: ", path, " is not a readable regular file"));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw IoError(elm::detail::concat("elm::io::MappedFile: cannot map ", path, ": ", std::strerror(errno)));
      }
      mapping_ = p;
      data_ = static_cast<const unsigned char*>(p);
    }
    ::close(fd);
#else
    std::ifstream in(path, std::ios::binary);
    ELM_EXPECT(in.good(), IoError, "elm::io::MappedFile: cannot open ", path);
    in.seekg(0, std::ios::end);
    buffer_.resize(static_cast<std::size_t>(in.tellg()));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(buffer_.data()), static_cast<std::streamsize>(buffer_.size()));
    ELM_EXPECT(in.good() || buffer_.empty(), IoError, "elm::io::MappedFile: cannot read ", path);
    size_ = buffer_.size();
    data_ = buffer_.data();
#endif
  }

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept { swap(other); }
  MappedFile& operator=(MappedFile&& other) noexcept {
    swap(other);
    return *this;
  }
  ~MappedFile() {
#ifdef ELM_HAVE_MMAP
    if (mapping_ != nullptr) ::munmap(mapping_, size_);
#endif
  }

  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void swap(MappedFile& other) noexcept {
    std::swap(mapping_, other.mapping_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    buffer_.swap(other.buffer_);
  }

  void* mapping_ = nullptr;
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  std::vector<unsigned char> buffer_;
};

}  // namespace elm::io

#undef ELM_HAVE_MMAP

// SPDX-License-Identifier: MIT
// A read-only view of a whole file: memory-mapped on POSIX systems, read into memory elsewhere.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
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
/// opened or read, naming `where` (the entry point that reads the file) and the path. A regular file is mapped;
/// anything else that can be read (a pipe, a character device) is read into memory.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path, std::string_view where = "elm::io::MappedFile") {
#ifdef ELM_HAVE_MMAP
    const int fd = ::open(path.c_str(), O_RDONLY);
    ELM_EXPECT(fd >= 0, IoError, where, ": cannot open '", path, "': ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      size_ = static_cast<std::size_t>(st.st_size);
      if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
          const int error = errno;
          ::close(fd);
          throw IoError(elm::detail::concat(where, ": cannot map '", path, "': ", std::strerror(error)));
        }
        mapping_ = p;
        data_ = static_cast<const unsigned char*>(p);
      }
    } else {
      unsigned char chunk[1 << 16];
      ::ssize_t n = 0;
      while ((n = ::read(fd, chunk, sizeof chunk)) > 0) buffer_.insert(buffer_.end(), chunk, chunk + n);
      if (n < 0) {
        const int error = errno;
        ::close(fd);
        throw IoError(elm::detail::concat(where, ": error while reading '", path, "': ", std::strerror(error)));
      }
      size_ = buffer_.size();
      data_ = buffer_.data();
    }
    ::close(fd);
#else
    std::ifstream in(path, std::ios::binary);
    ELM_EXPECT(in.good(), IoError, where, ": cannot open '", path, "'");
    buffer_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    ELM_EXPECT(!in.bad(), IoError, where, ": error while reading '", path, "'");
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

  /// Says that bytes [begin, end) will not be read again soon: the whole pages among them leave the process's
  /// resident memory (a mapped file's pages are read from the page cache again if touched; the bytes do not
  /// change). A loader that copies a large file into its own buffers calls it behind the copy, so that the file
  /// and the copy are not resident together. Nothing happens when the file was read into memory.
  void release(std::size_t begin, std::size_t end) const noexcept {
#ifdef ELM_HAVE_MMAP
    if (mapping_ == nullptr || end > size_ || begin >= end) return;
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t first = (begin + page - 1) / page * page, last = end / page * page;
    if (first < last) ::madvise(static_cast<unsigned char*>(mapping_) + first, last - first, MADV_DONTNEED);
#else
    (void)begin, (void)end;
#endif
  }
  /// The bytes as characters, for parsers of text files.
  std::string_view text() const { return {reinterpret_cast<const char*>(data_), size_}; }

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

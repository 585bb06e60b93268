// SPDX-License-Identifier: AGPL-3.0-or-later
// fmt's compiled part, built once into the host: what libfmt.so holds (fmt 9's
// src/format.cc, which Debian does not ship: format-inl.h's functions and the
// library's explicit instantiations). The host then loads no libfmt.so at
// start (one shared library fewer to map and relocate for every command), and
// its other files include fmt's headers without FMT_HEADER_ONLY, so fmt's
// implementation is compiled here only, not in each host unit. Plugins keep
// libfmt.so; as it defines these functions too, the host exports its copies,
// and a plugin's fmt calls in the child bind to the same fmt 9 code.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;

#ifndef FMT_STATIC_THOUSANDS_SEPARATOR
template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;
#endif

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view, basic_format_args<FMT_BUFFER_CONTEXT(char)>,
                                 locale_ref);

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<wchar_t>;
template FMT_API auto decimal_point_impl(locale_ref) -> wchar_t;
template FMT_API void buffer<wchar_t>::append(const wchar_t*, const wchar_t*);

}  // namespace detail
FMT_END_NAMESPACE

// node_exporter's textfile collector format: the one writer of Prometheus text in the toolkit.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace backup::util {

using PrometheusLabels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// A label value as the exposition format wants it: backslash, double quote and newline escaped.
std::string prometheus_label_value(std::string_view value);

// Builds the text of a textfile: each metric family once with its HELP and TYPE lines, then its
// samples. Label values are escaped here, so a client name can never break the format.
class PrometheusText {
public:
    // Starts a family; type is "gauge" or "counter".
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, PrometheusLabels labels, std::int64_t value);
    void sample(std::string_view name, PrometheusLabels labels, double value);
    const std::string& text() const { return m_text; }

private:
    void begin_sample(std::string_view name, PrometheusLabels labels);
    std::string m_text;
};

} // namespace backup::util

#include "util/prometheus.hpp"

#include <fmt/format.h>

namespace backup::util {

std::string prometheus_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
    m_text += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void PrometheusText::begin_sample(std::string_view name, PrometheusLabels labels) {
    m_text += name;
    if (labels.size() > 0) {
        m_text += '{';
        bool first = true;
        for (const auto& [label, value] : labels) {
            m_text +=
                fmt::format("{}{}=\"{}\"", first ? "" : ",", label, prometheus_label_value(value));
            first = false;
        }
        m_text += '}';
    }
}

void PrometheusText::sample(std::string_view name, PrometheusLabels labels, std::int64_t value) {
    begin_sample(name, labels);
    m_text += fmt::format(" {}\n", value);
}

void PrometheusText::sample(std::string_view name, PrometheusLabels labels, double value) {
    begin_sample(name, labels);
    m_text += fmt::format(" {}\n", value);
}

} // namespace backup::util

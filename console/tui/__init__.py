"""The Textual dashboard of etcd-console (`etcd-console tui`, opened by `play`)."""

from console.tui.app import DashboardApp, dashboard_for, run_dashboard

__all__ = ["DashboardApp", "dashboard_for", "run_dashboard"]

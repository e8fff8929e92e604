"""The task force's views of progress: pure views, the HTML report and the instructor dashboard."""

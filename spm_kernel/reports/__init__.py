"""Reports: performance reports (``performance*``) in HTML, PDF and XLSX."""

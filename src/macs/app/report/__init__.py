"""macs.app.report"""
